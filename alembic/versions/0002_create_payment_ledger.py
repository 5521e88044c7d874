"""create payment ledger and idempotency keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:07:45.244688
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hpf_tokens",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("cart_id", sa.String(length=64), nullable=False),
        sa.Column("payment_session_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_hpf_tokens")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False)
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("cart_id", sa.String(length=64), nullable=False),
        sa.Column("payment_session_id", sa.String(length=64), nullable=True),
        sa.Column("payment_collection_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("authorized_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("captured_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="requires_more", nullable=False),
        sa.Column("capture_mode", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("client_order_id", sa.String(length=100), nullable=True),
        sa.Column("netvalve_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("operation_in_flight", sa.String(length=16), nullable=True),
        sa.Column("final_capture_done", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("last_response_code", sa.String(length=32), nullable=True),
        sa.Column("last_response_message", sa.Text(), nullable=True),
        sa.Column("card_masked", sa.String(length=32), nullable=True),
        sa.Column("card_brand", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint(
            "authorized_minor <= amount_minor", name=op.f("ck_payments_authorized_within_amount")
        ),
        sa.CheckConstraint(
            "captured_minor <= authorized_minor", name=op.f("ck_payments_captured_within_authorized")
        ),
        sa.CheckConstraint(
            "refunded_minor <= captured_minor", name=op.f("ck_payments_refunded_within_captured")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_payments_client_order_id")),
        sa.UniqueConstraint("payment_session_id", name=op.f("uq_payments_payment_session_id")),
    )
    op.create_index(
        "ix_payments_needs_reconcile",
        "payments",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'unknown') OR operation_in_flight IS NOT NULL"),
    )
    op.create_index(
        "ix_payments_netvalve_transaction_id", "payments", ["netvalve_transaction_id"], unique=False
    )
    op.create_index(
        "uq_payments_live_cart",
        "payments",
        ["cart_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'unknown', 'authorized', 'captured', 'refunded')"),
    )
    op.create_table(
        "payment_transactions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("request_reference", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("parent_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("netvalve_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), server_default="in_flight", nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response_code", sa.String(length=32), nullable=True),
        sa.Column("response_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_transactions_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_transactions")),
    )
    op.create_index(
        "ix_payment_transactions_payment_id", "payment_transactions", ["payment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_payment_transactions_payment_id", table_name="payment_transactions")
    op.drop_table("payment_transactions")
    op.drop_index(
        "uq_payments_live_cart",
        table_name="payments",
        postgresql_where=sa.text("status IN ('pending', 'unknown', 'authorized', 'captured', 'refunded')"),
    )
    op.drop_index("ix_payments_netvalve_transaction_id", table_name="payments")
    op.drop_index(
        "ix_payments_needs_reconcile",
        table_name="payments",
        postgresql_where=sa.text("status IN ('pending', 'unknown') OR operation_in_flight IS NOT NULL"),
    )
    op.drop_table("payments")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("hpf_tokens")
