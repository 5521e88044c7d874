"""The payment as our ledger knows it. The reference example of the schema rule: a ``Base``, then
``Request``, ``Response``, ``Update`` and ``Deleted`` as the operation needs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from app.models import PaymentStatus


class PaymentBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cart_id: str = Field(min_length=1, max_length=64, examples=["cart_01JABCDEF0123456789ABCDEFG"])
    payment_session_id: str | None = Field(
        default=None, min_length=1, max_length=64, examples=["payses_01JABCDEF0123456789ABCDEFG"]
    )


class PaymentRequest(PaymentBase):
    """Look a payment up by its Medusa identifiers."""


class PaymentResponse(PaymentBase):
    status: PaymentStatus
    currency_code: str
    amount: Decimal
    authorized_amount: Decimal
    captured_amount: Decimal
    refunded_amount: Decimal
    netvalve_transaction_id: int | None
    updated_at: datetime | None = None


class PaymentUpdate(BaseModel):
    """What reconciliation or a verified webhook may change on a payment."""

    model_config = ConfigDict(extra="forbid")

    status: PaymentStatus
    netvalve_transaction_id: int | None = None
    response_code: str | None = None


class PaymentDeleted(PaymentBase):
    """A voided authorization: nothing was captured and the hold is released."""

    status: PaymentStatus = PaymentStatus.CANCELED
    netvalve_transaction_id: int | None
