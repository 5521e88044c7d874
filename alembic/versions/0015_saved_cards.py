"""Saved cards: account holders (one per Medusa customer), their saved cards (the gateway token encrypted),
and on each payment the shopper's consent to save its card and the saved card it made or used.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-20 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_holders",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_account_holders"),
        sa.UniqueConstraint("customer_id", name="uq_account_holders_customer_id"),
    )
    op.create_table(
        "saved_cards",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_holder_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("sales_channel_id", sa.String(64), nullable=True),
        sa.Column("token_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("brand", sa.String(32), nullable=True),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("masked", sa.String(32), nullable=False),
        sa.Column("expiry_month", sa.SmallInteger(), nullable=False),
        sa.Column("expiry_year", sa.SmallInteger(), nullable=False),
        sa.Column("initial_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("saved_from_payment_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_saved_cards"),
        sa.ForeignKeyConstraint(
            ["account_holder_id"],
            ["account_holders.id"],
            name="fk_saved_cards_account_holder_id_account_holders",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["saved_from_payment_id"],
            ["payments.id"],
            name="fk_saved_cards_saved_from_payment_id_payments",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_saved_cards_account_holder_id", "saved_cards", ["account_holder_id"])
    op.create_index(
        "ix_saved_cards_customer_id",
        "saved_cards",
        ["customer_id"],
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.add_column(
        "payments", sa.Column("save_card", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("payments", sa.Column("saved_card_id", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("payments", "saved_card_id")
    op.drop_column("payments", "save_card")
    op.drop_index("ix_saved_cards_customer_id", table_name="saved_cards")
    op.drop_index("ix_saved_cards_account_holder_id", table_name="saved_cards")
    op.drop_table("saved_cards")
    op.drop_table("account_holders")
