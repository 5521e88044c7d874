"""payments: disputes (chargebacks and chargeback alerts), and ``disputed`` as a live status

A chargeback moves a captured payment to ``disputed`` (still the cart's live payment) with the amount it
takes back; an alert only records its type, source and time.

Downgrade: a disputed payment goes back to what its amounts say (refunded or captured), and the dispute
columns are dropped with what they held.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_BEFORE = "status IN ('pending', 'unknown', 'authorized', 'captured', 'refunded')"
LIVE_NOW = "status IN ('pending', 'unknown', 'authorized', 'captured', 'refunded', 'disputed')"


def _live_cart_index(where: str) -> None:
    op.drop_index("uq_payments_live_cart", table_name="payments")
    op.create_index(
        "uq_payments_live_cart", "payments", ["cart_id"], unique=True, postgresql_where=sa.text(where)
    )


def upgrade() -> None:
    op.add_column(
        "payments", sa.Column("disputed_minor", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column("payments", sa.Column("disputed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("payments", sa.Column("dispute_type", sa.String(length=32), nullable=True))
    op.add_column("payments", sa.Column("dispute_source", sa.String(length=64), nullable=True))
    op.add_column("payments", sa.Column("dispute_noticed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_payments_disputed_not_negative"), "payments", "disputed_minor >= 0")
    op.create_check_constraint(
        op.f("ck_payments_disputed_within_captured"), "payments", "disputed_minor <= captured_minor"
    )
    _live_cart_index(LIVE_NOW)


def downgrade() -> None:
    op.execute(
        "UPDATE payments SET status = CASE WHEN refunded_minor > 0 THEN 'refunded' ELSE 'captured' END "
        "WHERE status = 'disputed'"
    )
    _live_cart_index(LIVE_BEFORE)
    op.drop_constraint(op.f("ck_payments_disputed_within_captured"), "payments", type_="check")
    op.drop_constraint(op.f("ck_payments_disputed_not_negative"), "payments", type_="check")
    op.drop_column("payments", "dispute_noticed_at")
    op.drop_column("payments", "dispute_source")
    op.drop_column("payments", "dispute_type")
    op.drop_column("payments", "disputed_at")
    op.drop_column("payments", "disputed_minor")
