"""NetValve's webhooks: what an ``eventName`` means (``EventKind``), and the fields of a body the service
reads, so that no other package names them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final


class EventKind(StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    CANCELED = "canceled"
    FAILED = "failed"
    PENDING = "pending"
    CHARGEBACK = "chargeback"
    UNKNOWN = "unknown"


WEBHOOK_EVENT_KINDS: Final[Mapping[str, EventKind]] = MappingProxyType(
    {
        "AUTHORISED": EventKind.AUTHORIZED,
        "PURCHASED": EventKind.CAPTURED,
        "CAPTURED": EventKind.CAPTURED,
        "REBILLED": EventKind.CAPTURED,
        "CANCELLED": EventKind.CANCELED,
        "REFUNDED": EventKind.REFUNDED,
        "AUTHORISATION_FAILED": EventKind.FAILED,
        "PURCHASE_FAILED": EventKind.FAILED,
        "CAPTURE_FAILED": EventKind.FAILED,
        "CANCELLATION_FAILED": EventKind.FAILED,
        "REFUND_FAILED": EventKind.FAILED,
        "REBIL_FAILED": EventKind.FAILED,
        "REBILL_FAILED": EventKind.FAILED,
        "AUTHORISATION_PENDING": EventKind.PENDING,
        "PURCHASE_PENDING": EventKind.PENDING,
        "CAPTURE_PENDING": EventKind.PENDING,
        "REBILL_PENDING": EventKind.PENDING,
        "REFUND_PENDING": EventKind.PENDING,
        "CANCELLATION_PENDING": EventKind.PENDING,
        "CHARGEBACK": EventKind.CHARGEBACK,
    }
)


def event_kind(event_name: str | None) -> EventKind:
    """Kind of a webhook ``eventName`` (NetValve's British spelling, typos included)."""
    if not event_name:
        return EventKind.UNKNOWN
    return WEBHOOK_EVENT_KINDS.get(event_name.strip().upper(), EventKind.UNKNOWN)


BODY_RULE: Final = "The webhook body must be a JSON object with an 'eventName'."
# The body is read raw (to bound its size and keep the exact text), so its shape is documented here.
BODY_SCHEMA: Final[dict[str, Any]] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["eventName"],
                "properties": {"eventName": {"type": "string", "pattern": "\\S"}},
                "additionalProperties": True,
            }
        }
    },
}


class UnreadableBody(ValueError):
    """A webhook body that is not NetValve's: what is wrong with it, in words NetValve can act on."""


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb would refuse them at every retry.
    raise ValueError(f"{name} is not JSON")


def read_body(body: bytes) -> tuple[dict[str, Any], str]:
    """The parsed body and its exact text; ``UnreadableBody`` unless it is a JSON object with an
    ``eventName``."""
    try:
        text = body.decode("utf-8")
        payload = json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError):
        raise UnreadableBody("The webhook body is not JSON.") from None
    if not isinstance(payload, dict):
        raise UnreadableBody("The webhook body is not a JSON object.")
    name = payload.get("eventName")
    if not isinstance(name, str) or not name.strip():
        raise UnreadableBody("The webhook body has no 'eventName'.")
    return payload, text


@dataclass(frozen=True)
class Delivery:
    """The fields of a webhook body the service reads, as NetValve sent them (unchecked)."""

    event_name: Any
    transaction_id: Any
    client_order_id: Any
    trace_id: Any
    chargeback_type: Any
    chargeback_source: Any
    amount: Any

    @property
    def kind(self) -> EventKind:
        return event_kind(self.event_name if isinstance(self.event_name, str) else None)


def delivery(body: Any) -> Delivery:
    """What a parsed webhook body says; anything missing or of another shape is None."""
    payload = body if isinstance(body, Mapping) else {}
    data = payload.get("data")
    data = data if isinstance(data, Mapping) else {}
    return Delivery(
        event_name=payload.get("eventName"),
        transaction_id=data.get("transactionId"),
        client_order_id=data.get("clientOrderId"),
        trace_id=data.get("traceId"),
        chargeback_type=data.get("chargebackTransactionType"),
        chargeback_source=data.get("chargebackSource"),
        amount=data.get("amount"),
    )


def chargeback_identity(sent: Delivery) -> str | None:
    """What names one chargeback: transaction, type, source, amount (normalised, so ``40``, ``40.0`` and
    ``"40.00"`` are one); None without a transaction id. NetValve names no chargeback id in the webhook,
    and the trace id is new on every send."""
    if sent.transaction_id in (None, ""):
        return None
    amount = sent.amount
    try:
        written = format(Decimal(str(amount)).normalize(), "f") if amount not in (None, "") else ""
    except ArithmeticError:
        written = str(amount)
    kind = str(sent.chargeback_type or "").casefold()
    source = str(sent.chargeback_source or "").casefold()
    return f"{sent.transaction_id}|{kind}|{source}|{written}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def dedup_key(payload: Mapping[str, Any]) -> str:
    """``eventName|transactionId|traceId`` when both ids exist, else the canonical body's hash. A chargeback
    is keyed by what identifies it (``chargeback_identity``): NetValve sends it again under a new trace id."""
    sent = delivery(payload)
    chargeback = chargeback_identity(sent) if sent.kind is EventKind.CHARGEBACK else None
    if chargeback is not None:
        return _sha256(f"CHARGEBACK|{chargeback}")
    txn, trace = sent.transaction_id, sent.trace_id
    if txn not in (None, "") and trace not in (None, ""):
        return _sha256(f"{sent.event_name}|{txn}|{trace}")
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return _sha256("body|" + canonical)
