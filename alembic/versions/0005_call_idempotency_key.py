"""payment_transactions.idempotency_key: the request that made each gateway call

A retry carrying the same Idempotency-Key finds the call it already made and answers with its outcome,
even after the key's stored answer was lost (a crash before completion, a lease taken over).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payment_transactions", sa.Column("idempotency_key", sa.String(length=400), nullable=True))
    op.create_index(
        "ix_payment_transactions_idempotency_key",
        "payment_transactions",
        ["idempotency_key"],
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_payment_transactions_idempotency_key", table_name="payment_transactions")
    op.drop_column("payment_transactions", "idempotency_key")
