"""Card-testing limits: rate_limit_hits (storefront requests per bucket and window, shared by every replica)
and an index on payments.cart_id (payment attempts are capped per cart).

Unlogged: the counts are worth less than the WAL they would cost on every storefront request.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_rate_limit_hits")),
        prefixes=["UNLOGGED"],
    )
    op.create_index("ix_rate_limit_hits_window_start", "rate_limit_hits", ["window_start"])
    op.create_index("ix_payments_cart_id", "payments", ["cart_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_cart_id", table_name="payments")
    op.drop_index("ix_rate_limit_hits_window_start", table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
