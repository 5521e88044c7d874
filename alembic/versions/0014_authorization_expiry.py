"""Authorizations that lapse: when each authorization was made, when it was first seen near expiry, and when
NetValve refused its capture because the issuer had released it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("authorized_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("payments", sa.Column("near_expiry_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "payments", sa.Column("authorization_expired_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Payments authorized before this migration: the approved sale or authorization call opened no later
    # than NetValve approved it, so its time never makes an authorization look younger than it is.
    op.execute(
        """
        UPDATE payments p SET authorized_at = t.created_at
        FROM (
            SELECT payment_id, min(created_at) AS created_at FROM payment_transactions
            WHERE operation IN ('sale', 'authorize') AND outcome = 'approved'
            GROUP BY payment_id
        ) t
        WHERE t.payment_id = p.id AND p.authorized_minor > 0
        """
    )
    op.create_index(
        "ix_payments_authorized_at",
        "payments",
        ["authorized_at"],
        postgresql_where=sa.text("status = 'authorized'"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_authorized_at", table_name="payments")
    op.drop_column("payments", "authorization_expired_at")
    op.drop_column("payments", "near_expiry_at")
    op.drop_column("payments", "authorized_at")
