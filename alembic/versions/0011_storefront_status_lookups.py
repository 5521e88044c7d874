"""payments.storefront_lookup_at: when a storefront's /status last made the service ask NetValve about the
payment, so that polling asks at most once per STOREFRONT_STATUS_LOOKUP_INTERVAL_SECONDS over every replica.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("storefront_lookup_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("payments", "storefront_lookup_at")
