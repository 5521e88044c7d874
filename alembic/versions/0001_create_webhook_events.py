"""create webhook_events

Revision ID: 0001
Revises:
Create Date: 2026-11-26 12:04:10.612169
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(length=128), nullable=False),
        sa.Column("provider", sa.String(length=32), server_default="netvalve", nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("netvalve_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("client_order_id", sa.String(length=128), nullable=True),
        sa.Column("trace_id", sa.String(length=128), nullable=True),
        sa.Column("payment_session_id", sa.String(length=128), nullable=True),
        sa.Column("medusa_action", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="received", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("raw_body", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_webhook_events_dedup_key")),
    )
    op.create_index("ix_webhook_events_client_order_id", "webhook_events", ["client_order_id"], unique=False)
    op.create_index(
        "ix_webhook_events_due",
        "webhook_events",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('received', 'pending')"),
    )
    op.create_index(
        "ix_webhook_events_netvalve_transaction_id",
        "webhook_events",
        ["netvalve_transaction_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_events_netvalve_transaction_id", table_name="webhook_events")
    op.drop_index(
        "ix_webhook_events_due",
        table_name="webhook_events",
        postgresql_where=sa.text("status IN ('received', 'pending')"),
    )
    op.drop_index("ix_webhook_events_client_order_id", table_name="webhook_events")
    op.drop_table("webhook_events")
