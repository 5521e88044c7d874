"""idempotency_keys.claimed_at: when the current holder claimed the key

A key whose holder died (crash, deploy) without answering is taken over once its lease has run out;
the claim time, not the creation time, is what the lease counts from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 13:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("idempotency_keys", "claimed_at")
