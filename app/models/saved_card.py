"""The vault: Medusa customers' account holders and the cards they saved (the gateway token encrypted)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin


def new_vault_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(13)}"


class AccountHolder(TimestampMixin, Base):
    """One per Medusa customer (Medusa's account holder's ``external_id``)."""

    __tablename__ = "account_holders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_vault_id("nvah"))
    customer_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    email: Mapped[str | None] = mapped_column(String(320))


class SavedCard(Base):
    """A card a customer saved, as a gateway token only NetValve can turn back into the card. A deleted card
    keeps its row (without the token) until the retention pass."""

    __tablename__ = "saved_cards"
    __table_args__ = (
        Index("ix_saved_cards_account_holder_id", "account_holder_id"),
        Index("ix_saved_cards_customer_id", "customer_id", postgresql_where=text("deleted_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_vault_id("nvcard"))
    account_holder_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("account_holders.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[str] = mapped_column(String(64), nullable=False)
    sales_channel_id: Mapped[str | None] = mapped_column(String(64))
    # Fernet ciphertext (SAVED_CARDS_ENCRYPTION_KEYS); NULL once the card is deleted.
    token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    brand: Mapped[str | None] = mapped_column(String(32))
    last4: Mapped[str] = mapped_column(String(4), nullable=False)
    masked: Mapped[str] = mapped_column(String(32), nullable=False)
    expiry_month: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    expiry_year: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # The customer-initiated sale that saved the card: a merchant-initiated charge names it to NetValve.
    initial_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    saved_from_payment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("payments.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
