"""Payments of a Medusa payment collection that has no cart (an order edit's, a claim's or an exchange's
pending difference): such a payment has ``cart_id`` NULL and is named by ``payment_collection_id``, and the
database allows one live payment per such collection as it does per cart. HPF tokens are bound the same way.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = "status IN ('pending', 'unknown', 'authorized', 'captured', 'refunded', 'disputed')"


def upgrade() -> None:
    op.alter_column("payments", "cart_id", existing_type=sa.String(64), nullable=True)
    op.create_check_constraint(
        op.f("ck_payments_payer_named"),
        "payments",
        "cart_id IS NOT NULL OR payment_collection_id IS NOT NULL",
    )
    op.create_index(
        "uq_payments_live_collection",
        "payments",
        ["payment_collection_id"],
        unique=True,
        postgresql_where=sa.text(f"cart_id IS NULL AND {_LIVE}"),
    )
    op.create_index(
        "ix_payments_collection_without_cart",
        "payments",
        ["payment_collection_id"],
        postgresql_where=sa.text("cart_id IS NULL"),
    )
    op.alter_column("hpf_tokens", "cart_id", existing_type=sa.String(64), nullable=True)
    op.add_column("hpf_tokens", sa.Column("payment_collection_id", sa.String(64), nullable=True))
    op.create_check_constraint(
        op.f("ck_hpf_tokens_payer_named"),
        "hpf_tokens",
        "cart_id IS NOT NULL OR payment_collection_id IS NOT NULL",
    )


def downgrade() -> None:
    # Collections' tokens go; a ledger still holding collection payments refuses the last step (NOT NULL):
    # those payments have no cart to be named by.
    op.execute("DELETE FROM hpf_tokens WHERE cart_id IS NULL")
    op.drop_constraint(op.f("ck_hpf_tokens_payer_named"), "hpf_tokens", type_="check")
    op.drop_column("hpf_tokens", "payment_collection_id")
    op.alter_column("hpf_tokens", "cart_id", existing_type=sa.String(64), nullable=False)
    op.drop_index("ix_payments_collection_without_cart", table_name="payments")
    op.drop_index("uq_payments_live_collection", table_name="payments")
    op.drop_constraint(op.f("ck_payments_payer_named"), "payments", type_="check")
    op.alter_column("payments", "cart_id", existing_type=sa.String(64), nullable=False)
