"""What Medusa hears of the ledger: the action a status stands for and the outbox row that carries it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.core.money import from_minor
from app.models import Payment, PaymentStatus

# The Medusa webhook action a ledger status stands for. ``refunded`` has none: Medusa records refunds itself.
LEDGER_ACTIONS: Mapping[PaymentStatus, str] = {
    PaymentStatus.AUTHORIZED: "authorized",
    PaymentStatus.CAPTURED: "captured",
    PaymentStatus.ERROR: "failed",
    PaymentStatus.CANCELED: "canceled",
}


def ledger_action(status: PaymentStatus) -> str | None:
    return LEDGER_ACTIONS.get(status)


def _action_amount(payment: Payment, action: str) -> Decimal:
    """The amount Medusa records for an action: what was captured or authorized, else the payment's. The
    whole payment is Medusa's own exact amount (29.7381, not the 29.74 NetValve charged): Medusa captures
    what it is told, and only its exact amount leaves its payment captured in full and its refunds adding
    up."""
    minor = payment.amount_minor
    if action == "captured" and payment.captured_minor:
        minor = payment.captured_minor
    elif action == "authorized" and payment.authorized_minor:
        minor = payment.authorized_minor
    charged = from_minor(minor, payment.currency)
    if minor == payment.amount_minor and payment.medusa_amount != charged:
        return payment.medusa_amount
    return charged


def forward_row(
    payment: Payment, action: str, transaction_id: int | None, webhook_event_id: int | None = None
) -> dict[str, Any] | None:
    """The outbox row announcing ``action``; one per (action, session, transaction), whoever queues it."""
    amount = _action_amount(payment, action)
    key = f"{action}|{payment.payment_session_id}|{transaction_id}"
    return _row(key, action, payment, transaction_id, {"amount": str(amount)}, webhook_event_id)


def dispute_row(payment: Payment, dispute: Mapping[str, Any], webhook_event_id: int) -> dict[str, Any] | None:
    """The outbox row telling Medusa of a chargeback notice. Medusa has no dispute action, so it goes as
    ``not_supported`` (Medusa changes nothing) with the notice in ``data.dispute``; one per webhook event."""
    key = f"dispute|{payment.payment_session_id}|{webhook_event_id}"
    return _row(
        key, "not_supported", payment, payment.netvalve_transaction_id, {"dispute": dispute}, webhook_event_id
    )


def _row(
    key: str,
    action: str,
    payment: Payment,
    transaction_id: int | None,
    data: Mapping[str, Any],
    webhook_event_id: int | None,
) -> dict[str, Any] | None:
    if payment.payment_session_id is None:
        return None
    body = {
        "action": action,
        "data": {"session_id": payment.payment_session_id, **data},
        "event_id": "nvwh_" + hashlib.sha256(key.encode()).hexdigest()[:32],
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    return {
        "dedup_key": key[:255],
        "webhook_event_id": webhook_event_id,
        "action": action,
        "payment_session_id": payment.payment_session_id,
        "netvalve_transaction_id": transaction_id,
        "payload": body,
    }
