"""payments: the 3-D Secure stage of a payment, NetValve's 3DS transaction id and code

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    sa.Column("threeds_stage", sa.String(length=16), nullable=True),
    sa.Column("threeds_transaction_id", sa.String(length=64), nullable=True),
    sa.Column("threeds_code", sa.String(length=32), nullable=True),
    sa.Column("threeds_started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("threeds_url", sa.Text(), nullable=True),
    sa.Column("threeds_redirect", sa.Boolean(), nullable=True),
    sa.Column("threeds_token_sha256", sa.String(length=64), nullable=True),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("payments", column)
    # The reconciliation pass looks for authentications left open past NetValve's window.
    op.create_index(
        "ix_payments_threeds_open",
        "payments",
        ["threeds_started_at"],
        postgresql_where=sa.text("threeds_stage IN ('initializing', 'device_data', 'challenge')"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_threeds_open", table_name="payments")
    for column in reversed(COLUMNS):
        op.drop_column("payments", column.name)
