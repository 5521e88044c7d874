"""payments and payment_transactions: Medusa's exact amount beside the rounded one NetValve is sent

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The zero-decimal currencies the service took before this revision (every other one had two decimals,
# and until now a payment's amount was always exactly its minor units).
_BACKFILL = sa.text(
    "UPDATE payments SET medusa_amount = CASE WHEN currency IN ('BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', "
    "'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF') THEN amount_minor::numeric "
    "ELSE amount_minor::numeric * 0.01 END"
)


def upgrade() -> None:
    op.add_column("payments", sa.Column("medusa_amount", sa.Numeric(), nullable=True))
    op.execute(_BACKFILL)
    op.alter_column("payments", "medusa_amount", nullable=False)
    op.add_column("payment_transactions", sa.Column("medusa_amount", sa.Numeric(), nullable=True))


def downgrade() -> None:
    op.drop_column("payment_transactions", "medusa_amount")
    op.drop_column("payments", "medusa_amount")
