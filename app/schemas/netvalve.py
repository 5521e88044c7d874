"""Request and response models of the NetValve routes (``Base``, then ``Request`` / ``Response`` /
``Update`` / ``Deleted`` as each operation needs)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.models import PaymentStatus
from app.schemas.values import ONE_PAYER_SCHEMA, MedusaId, NetValveTransactionId, PositiveAmount


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Flow(StrEnum):
    HPF = "hpf"
    HPP = "hpp"


class PayerIds(Strict):
    """What a storefront pays: a cart, or a payment collection of an order that has no cart (an order edit's,
    a claim's or an exchange's pending difference, Medusa's payment link). Exactly one of them."""

    cart_id: MedusaId | None = None
    payment_collection_id: MedusaId | None = None
    payment_session_id: MedusaId | None = None

    @model_validator(mode="after")
    def _exactly_one_payer(self) -> PayerIds:
        if (self.cart_id is None) == (self.payment_collection_id is None):
            raise ValueError("give exactly one of cart_id and payment_collection_id")
        return self


# --- HPF session -----------------------------------------------------------------------------------


class HpfSessionBase(PayerIds):
    pass


class HpfSessionRequest(HpfSessionBase):
    """Ask for a Hosted Payment Fields (or HPP) session for a cart or a payment collection."""

    model_config = ConfigDict(json_schema_extra=ONE_PAYER_SCHEMA)


class HpfDetails(BaseModel):
    script_src: str
    integrity: str | None = None
    version: str | None = None
    payment_token: str | None = None
    jwt_token: str | None = None
    jwt_expires_at: int | None = None
    trace_id: str | None = None


class HppDetails(BaseModel):
    redirect_url: str
    order_id: int | None = None
    transaction_id: int | None = None


class DiagnosticStep(BaseModel):
    """A step of the HPF session waterfall that did not give the answer: logged, never answered."""

    step: str
    outcome: str
    detail: str | None = None


class HpfSessionResponse(HpfSessionBase):
    provider: Literal["netvalve"] = "netvalve"
    environment: str
    flow: Flow
    currency_code: str
    amount: Decimal
    hpf: HpfDetails | None = None
    hpp: HppDetails | None = None
    payment_session_patch: dict[str, Any]


# --- Capture / refund / cancel ----------------------------------------------------------------------


def _one_of_required(*names: str, types: dict[str, str]) -> dict[str, Any]:
    """JSON Schema for "at least one of these, not null": the model validator's rule, stated in the schema."""
    return {"anyOf": [{"required": [name], "properties": {name: {"type": types[name]}}} for name in names]}


class MoneyOperationBase(Strict):
    model_config = ConfigDict(
        json_schema_extra=_one_of_required(
            "transaction_id",
            "payment_session_id",
            types={"transaction_id": "integer", "payment_session_id": "string"},
        )
    )

    transaction_id: NetValveTransactionId | None = None
    payment_session_id: MedusaId | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> MoneyOperationBase:
        if self.transaction_id is None and self.payment_session_id is None:
            raise ValueError("give transaction_id or payment_session_id")
        return self


class CaptureRequest(MoneyOperationBase):
    amount: PositiveAmount | None = None


class RefundRequest(MoneyOperationBase):
    amount: PositiveAmount | None = None


class CancelRequest(MoneyOperationBase):
    """Void an authorization that was not captured."""


class MoneyOperationResponse(BaseModel):
    status: PaymentStatus
    payment_session_id: str | None
    # The cart's id, or None for a payment collection without a cart (``payment_collection_id`` names it).
    cart_id: str | None
    payment_collection_id: str | None = None
    currency_code: str
    # What NetValve charged; ``medusa_amount`` is Medusa's exact amount it was rounded from.
    amount: Decimal
    medusa_amount: Decimal
    authorized_amount: Decimal
    captured_amount: Decimal
    refunded_amount: Decimal
    netvalve_transaction_id: int | None
    operation_transaction_id: int | None = None
    response_code: str | None = None
    already_done: bool = False


class CaptureResponse(MoneyOperationResponse):
    pass


class RefundResponse(MoneyOperationResponse):
    pass


class CancelDeleted(MoneyOperationResponse):
    """The authorization is void (the seed's ``Deleted`` shape for a cancel)."""


# --- Disputes ---------------------------------------------------------------------------------------


class DisputeClearBase(MoneyOperationBase):
    """The payment whose dispute an operator clears (recorded in error, or reversed by NetValve)."""


class DisputeClearRequest(DisputeClearBase):
    reason: str = Field(min_length=3, max_length=500, description="Why; kept in the audit trail.")


class DisputeClearResponse(MoneyOperationResponse):
    disputed_amount: Decimal
    dispute_type: str | None = None


# --- Status -----------------------------------------------------------------------------------------


class StatusRequest(Strict):
    transaction_id: NetValveTransactionId | None = None
    payment_session_id: MedusaId | None = None
    cart_id: MedusaId | None = None
    payment_collection_id: MedusaId | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> StatusRequest:
        if self.cart_id is not None and self.payment_collection_id is not None:
            raise ValueError("give at most one of cart_id and payment_collection_id")
        if (
            self.transaction_id is None
            and self.payment_session_id is None
            and self.cart_id is None
            and self.payment_collection_id is None
        ):
            raise ValueError("give transaction_id, payment_session_id, cart_id or payment_collection_id")
        return self


class StatusResponse(BaseModel):
    status: PaymentStatus
    source: Literal["netvalve", "ledger"]
    cart_id: str | None = None
    payment_collection_id: str | None = None
    payment_session_id: str | None = None
    currency_code: str | None = None
    amount: Decimal | None = None
    medusa_amount: Decimal | None = None
    authorized_amount: Decimal | None = None
    captured_amount: Decimal | None = None
    refunded_amount: Decimal | None = None
    netvalve_transaction_id: int | None = None
    response_code: str | None = None
    # What chargebacks took back, and the latest chargeback notice's type (a dispute or an alert).
    disputed_amount: Decimal | None = None
    dispute_type: str | None = None
    # When the authorization was made; whether it is older than AUTHORIZATION_NEAR_EXPIRY_DAYS and still
    # held; whether NetValve refused its capture because the issuer released it (the status is then canceled).
    authorized_at: datetime | None = None
    authorization_near_expiry: bool = False
    authorization_expired: bool = False


class StorefrontStatusResponse(BaseModel):
    status: PaymentStatus
    source: Literal["netvalve", "ledger"]


# --- Reconcile --------------------------------------------------------------------------------------


class ReconcileRequest(Strict):
    limit: int = Field(default=100, ge=1, le=1000)


class ReconcileResponse(BaseModel):
    examined: int
    settled: int
    still_open: int
