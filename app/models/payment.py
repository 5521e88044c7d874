"""The ledger: one NetValve payment per Medusa payment session, and every gateway call made for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin


class PaymentStatus(StrEnum):
    """Medusa's payment-session vocabulary where Medusa has a word, plus ``refunded``, ``unknown`` and
    ``disputed``."""

    PENDING = "pending"
    REQUIRES_MORE = "requires_more"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    CANCELED = "canceled"
    ERROR = "error"
    UNKNOWN = "unknown"
    # A chargeback (or another dispute that moves money) was opened on the captured money.
    DISPUTED = "disputed"


class CallOutcome(StrEnum):
    """What became of one gateway call, as the ledger records it."""

    IN_FLIGHT = "in_flight"
    APPROVED = "approved"
    PENDING = "pending"
    DECLINED = "declined"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    NOT_SENT = "not_sent"


class ThreeDSStage(StrEnum):
    """Where a payment's 3-D Secure authentication stands (``payment_state.THREEDS_NEXT`` orders them)."""

    INITIALIZING = "initializing"
    DEVICE_DATA = "device_data"
    CHALLENGE = "challenge"
    AUTHENTICATED = "authenticated"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Payer:
    """Whom a payment is for, as the ledger names it: a cart (``cart_id``), or a payment collection that
    has no cart, an order edit's, a claim's or an exchange's (``cart_id`` NULL, ``payment_collection_id``)."""

    cart_id: str | None = None
    payment_collection_id: str | None = None

    def __post_init__(self) -> None:
        if (self.cart_id is None) == (self.payment_collection_id is None):
            raise ValueError("a payer is a cart or a payment collection")

    @property
    def id(self) -> str:
        named = self.cart_id or self.payment_collection_id
        assert named is not None
        return named

    @property
    def kind(self) -> str:
        return "cart" if self.cart_id is not None else "payment_collection"


_LIVE_STATUSES = "'pending', 'unknown', 'authorized', 'captured', 'refunded', 'disputed'"


class Payment(TimestampMixin, Base):
    __tablename__ = "payments"
    # The INSERT returns the server's defaults: a new row is usable without reading it back.
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("captured_minor <= authorized_minor", name="captured_within_authorized"),
        CheckConstraint("refunded_minor <= captured_minor", name="refunded_within_captured"),
        CheckConstraint("authorized_minor <= amount_minor", name="authorized_within_amount"),
        CheckConstraint("disputed_minor >= 0", name="disputed_not_negative"),
        CheckConstraint("disputed_minor <= captured_minor", name="disputed_within_captured"),
        # At most one live payment per cart, and per payment collection that has no cart (an order edit's,
        # a claim's or an exchange's, named by payment_collection_id alone): the database itself refuses a
        # second charge.
        CheckConstraint("cart_id IS NOT NULL OR payment_collection_id IS NOT NULL", name="payer_named"),
        Index(
            "uq_payments_live_cart",
            "cart_id",
            unique=True,
            postgresql_where=text(f"status IN ({_LIVE_STATUSES})"),
        ),
        Index(
            "uq_payments_live_collection",
            "payment_collection_id",
            unique=True,
            postgresql_where=text(f"cart_id IS NULL AND status IN ({_LIVE_STATUSES})"),
        ),
        Index(
            "ix_payments_collection_without_cart",
            "payment_collection_id",
            postgresql_where=text("cart_id IS NULL"),
        ),
        Index("ix_payments_netvalve_transaction_id", "netvalve_transaction_id"),
        Index("ix_payments_cart_id", "cart_id"),
        Index(
            "ix_payments_needs_reconcile",
            "updated_at",
            postgresql_where=text("status IN ('pending', 'unknown') OR operation_in_flight IS NOT NULL"),
        ),
        Index(
            "ix_payments_threeds_open",
            "threeds_started_at",
            postgresql_where=text("threeds_stage IN ('initializing', 'device_data', 'challenge')"),
        ),
        Index("ix_payments_authorized_at", "authorized_at", postgresql_where=text("status = 'authorized'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    cart_id: Mapped[str | None] = mapped_column(String(64))
    payment_session_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    payment_collection_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Medusa's amount as Medusa holds it (tax and promotions can give it more decimals than the currency);
    # ``amount_minor`` is it rounded once (``money.round_to_minor``), what NetValve is sent.
    medusa_amount: Mapped[Decimal] = mapped_column(Numeric, nullable=False)
    authorized_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    captured_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    refunded_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default=PaymentStatus.REQUIRES_MORE
    )
    capture_mode: Mapped[str] = mapped_column(String(16), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    client_order_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    netvalve_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    operation_in_flight: Mapped[str | None] = mapped_column(String(16))
    final_capture_done: Mapped[bool] = mapped_column(nullable=False, server_default=text("false"))
    last_response_code: Mapped[str | None] = mapped_column(String(32))
    last_response_message: Mapped[str | None] = mapped_column(Text)
    card_masked: Mapped[str | None] = mapped_column(String(32))
    card_brand: Mapped[str | None] = mapped_column(String(32))
    # Money a chargeback takes back; ``disputed_at`` is set by the first one and blocks refunds for good.
    disputed_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    disputed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The latest chargeback notice, dispute or alert, as NetValve named it.
    dispute_type: Mapped[str | None] = mapped_column(String(32))
    dispute_source: Mapped[str | None] = mapped_column(String(64))
    dispute_noticed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # 3-D Secure: the stage, NetValve's 3DS transaction id (transID), its last code, when the stage began,
    # the URL the shopper's browser must open and whether as a full-page redirect, and the HPF token's hash.
    threeds_stage: Mapped[str | None] = mapped_column(String(16))
    threeds_transaction_id: Mapped[str | None] = mapped_column(String(64))
    threeds_code: Mapped[str | None] = mapped_column(String(32))
    threeds_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    threeds_url: Mapped[str | None] = mapped_column(Text)
    threeds_redirect: Mapped[bool | None] = mapped_column()
    threeds_token_sha256: Mapped[str | None] = mapped_column(String(64))
    # When a storefront's /status last made us ask NetValve (polling asks at most once per interval).
    storefront_lookup_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the authorization was made (no later than NetValve approved it): issuers release a hold after 5 to
    # 30 days. When it was first seen near expiry (logged and counted once), and when NetValve refused its
    # capture because the issuer had released it.
    authorized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    near_expiry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    authorization_expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Saved cards: the shopper asked to save the card this payment is made with (saved once it is approved,
    # after 3-D Secure too); the card saved from it, or the saved card it was paid with.
    save_card: Mapped[bool] = mapped_column(nullable=False, server_default=text("false"))
    saved_card_id: Mapped[str | None] = mapped_column(String(40))

    @property
    def payer(self) -> Payer:
        if self.cart_id is not None:
            return Payer(cart_id=self.cart_id)
        return Payer(payment_collection_id=self.payment_collection_id)


class GatewayTransaction(Base):
    """One call to NetValve that could move money, recorded before it is sent and settled after."""

    __tablename__ = "payment_transactions"
    __table_args__ = (
        Index("ix_payment_transactions_payment_id", "payment_id"),
        Index(
            "ix_payment_transactions_idempotency_key",
            "idempotency_key",
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), nullable=False)
    operation: Mapped[str] = mapped_column(String(16), nullable=False)
    request_reference: Mapped[str] = mapped_column(String(100), nullable=False)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    # The exact amount Medusa asked this call for (a refund's ``raw_amount``), when one came from Medusa.
    medusa_amount: Mapped[Decimal | None] = mapped_column(Numeric)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    parent_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    netvalve_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, server_default=CallOutcome.IN_FLIGHT)
    http_status: Mapped[int | None] = mapped_column(Integer)
    response_code: Mapped[str | None] = mapped_column(String(32))
    response_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "<scope>:<key>" of the request that made the call: a retry with that key finds it, never sends again.
    idempotency_key: Mapped[str | None] = mapped_column(String(400))


class PaymentAudit(Base):
    """An operator's change to a payment outside the call protocol (a dispute cleared): who, why, and
    what the payment held before."""

    __tablename__ = "payment_audit"
    __table_args__ = (Index("ix_payment_audit_payment_id", "payment_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    before: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )


class HpfToken(Base):
    """An HPF payment token we issued, bound to its cart or cartless payment collection (stored as a hash:
    it is a credential)."""

    __tablename__ = "hpf_tokens"
    __table_args__ = (
        CheckConstraint("cart_id IS NOT NULL OR payment_collection_id IS NOT NULL", name="payer_named"),
    )

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    cart_id: Mapped[str | None] = mapped_column(String(64))
    payment_collection_id: Mapped[str | None] = mapped_column(String(64))
    payment_session_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    """A mutating request's ``Idempotency-Key``: who holds it, and the exact response to replay."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )
    claimed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
