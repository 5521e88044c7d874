"""Answers built from the ledger: what each route returns, and whether the outcome is still open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from app.core.money import from_minor
from app.models import Payment, PaymentStatus
from app.schemas.netvalve import MoneyOperationResponse, StatusResponse
from app.schemas.payment import PayResponse

# Payments whose outcome NetValve has yet to tell us.
OPEN_STATUSES = frozenset({PaymentStatus.PENDING, PaymentStatus.UNKNOWN})
B = TypeVar("B", bound=BaseModel)


@dataclass(frozen=True)
class Answer(Generic[B]):
    """A service's answer: the body, and whether its outcome is still open (the route says 202)."""

    body: B
    is_open: bool


def is_open(payment: Payment) -> bool:
    return payment.status in OPEN_STATUSES or payment.operation_in_flight is not None


def _money(payment: Payment, minor: int) -> Decimal:
    return from_minor(minor, payment.currency)


def _ledger_fields(payment: Payment) -> dict[str, Any]:
    return {
        "status": PaymentStatus(payment.status),
        "cart_id": payment.cart_id,
        "payment_collection_id": payment.payment_collection_id,
        "payment_session_id": payment.payment_session_id,
        "currency_code": payment.currency,
        "amount": _money(payment, payment.amount_minor),
        "medusa_amount": payment.medusa_amount,
        "authorized_amount": _money(payment, payment.authorized_minor),
        "captured_amount": _money(payment, payment.captured_minor),
        "refunded_amount": _money(payment, payment.refunded_minor),
        "netvalve_transaction_id": payment.netvalve_transaction_id,
    }


def money_response(payment: Payment, **extra: Any) -> MoneyOperationResponse:
    return MoneyOperationResponse(**_ledger_fields(payment), **extra)


def status_response(payment: Payment, source: str, near_expiry_after: datetime) -> StatusResponse:
    """The service key's view; an authorization made at or before ``near_expiry_after`` is near expiry."""
    made = payment.authorized_at
    near = payment.status == PaymentStatus.AUTHORIZED and made is not None and made <= near_expiry_after
    return StatusResponse(
        **_ledger_fields(payment),
        source=source,
        response_code=payment.last_response_code,
        disputed_amount=_money(payment, payment.disputed_minor),
        dispute_type=payment.dispute_type,
        authorized_at=payment.authorized_at,
        authorization_near_expiry=near,
        authorization_expired=payment.authorization_expired_at is not None,
    )


def pay_response(payment: Payment) -> PayResponse:
    payer = payment.payer
    return PayResponse(
        cart_id=payer.cart_id,
        payment_collection_id=payer.payment_collection_id,
        payment_session_id=payment.payment_session_id,
        status=PaymentStatus(payment.status),
        currency_code=payment.currency,
        amount=_money(payment, payment.amount_minor),
        saved_card_id=payment.saved_card_id if payment.save_card else None,
    )


def paid_answer(payment: Payment) -> Answer[PayResponse]:
    return Answer(pay_response(payment), is_open(payment))
