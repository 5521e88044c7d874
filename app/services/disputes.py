"""Chargebacks: NetValve's CHARGEBACK webhook, confirmed by NetValve, recorded on the payment, and what
Medusa is told of it.

A webhook cannot be proven genuine (NetValve signs nothing), so a notice is believed only once NetValve's
own ``GET /transaction`` of the payment's transaction carries it in ``chargebackData``: same type, source
and amount (``confirmed``). What the ledger records is NetValve's entry, never the body. A notice NetValve
does not confirm changes nothing. A chargeback is identified by its transaction, type, source and amount
(``events.chargeback_identity``): NetValve names no chargeback id in the webhook, and the trace id is new
on every send. It can only make the payment stricter, never move money in the ledger; an operator may clear
a dispute recorded in error (``clear``).

``chargebackTransactionType`` decides what a notice does:
- alerts, sent before any money moves, while a refund can still avert the chargeback: Ethoca, Verify
  (Verifi CDRN), InformAlert, and TC40 (an issuer's fraud report, which moves no money). The payment is
  flagged (type, source, time) and stays refundable;
- disputes, where the money is taken back: Chargeback, Fraud, RDR (Visa's Rapid Dispute Resolution credits
  the cardholder from the merchant at once), and any type we do not know or that is missing. The payment
  becomes ``disputed`` with the amount, and refunds are refused: refunding money a chargeback took back
  would pay the cardholder twice.

The body names no currency: its ``amount`` is read, exactly, in the payment's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from prometheus_client import Counter

from app.core.money import AmountError, from_minor, parse_amount, to_minor
from app.gateway import ChargebackEntry
from app.gateway.events import delivery
from app.models import Payment, PaymentStatus
from app.services.ledger import derived_status, transition

DISPUTES = Counter(
    "netvalve_disputes_total",
    "Chargeback notices recorded on a payment, by NetValve's type and by kind: a dispute blocks refunds, "
    "an alert only flags the payment.",
    ["type", "kind"],
)

ALERT_TYPES = frozenset({"ethoca", "verify", "informalert", "tc40"})
DISPUTE_TYPES = frozenset({"chargeback", "fraud", "rdr"})


class NoticeKind(StrEnum):
    DISPUTE = "dispute"
    ALERT = "alert"


@dataclass(frozen=True)
class Notice:
    """One CHARGEBACK webhook as the ledger reads it."""

    type: str | None
    source: str | None
    amount: Decimal | None

    @property
    def kind(self) -> NoticeKind:
        return NoticeKind.ALERT if (self.type or "").lower() in ALERT_TYPES else NoticeKind.DISPUTE

    @property
    def label(self) -> str:
        """The metric's ``type``: NetValve's documented types only, so a body cannot grow the series."""
        name = (self.type or "").lower()
        if name in ALERT_TYPES | DISPUTE_TYPES:
            return name
        return "other" if name else "unspecified"


def _text(value: Any, limit: int) -> str | None:
    return None if value in (None, "") else str(value)[:limit]


def read_notice(raw_body: str) -> Notice:
    """The notice in a CHARGEBACK body, its amount read from the body's own text (10.99 stays exact)."""
    try:
        body = json.loads(raw_body, parse_float=Decimal)
    except ValueError:
        body = None
    sent = delivery(body)
    try:
        amount: Decimal | None = parse_amount(sent.amount)
    except AmountError:
        amount = None
    return Notice(_text(sent.chargeback_type, 32), _text(sent.chargeback_source, 64), amount)


def _same(left: str | None, right: str | None) -> bool:
    return (left or "").casefold() == (right or "").casefold()


def _matches(entry: ChargebackEntry, notice: Notice) -> bool:
    if not (_same(entry.type, notice.type) and _same(entry.source, notice.source)):
        return False
    return notice.amount is None or entry.amount == notice.amount


def confirmed(notice: Notice, entries: list[ChargebackEntry]) -> Notice | None:
    """NetValve's own record of ``notice`` among the transaction's chargebacks, or None."""
    for entry in entries:
        if _matches(entry, notice):
            return Notice(_text(entry.type, 32), _text(entry.source, 64), entry.amount)
    return None


def _exact_minor(amount: Decimal | None, currency: str) -> int | None:
    if amount is None:
        return None
    try:
        return to_minor(amount, currency)
    except AmountError:
        return None


def record(payment: Payment, notice: Notice, now: datetime) -> str | None:
    """Record ``notice`` on ``payment`` (row-locked, with money captured). Returns what an operator must look
    at, or None: a dispute whose amount is not an exact part of the captured money still blocks refunds, but
    its amount is not guessed."""
    payment.dispute_type = notice.type
    payment.dispute_source = notice.source
    payment.dispute_noticed_at = now
    if notice.kind is NoticeKind.ALERT:
        return None
    payment.disputed_at = payment.disputed_at or now
    transition(payment, PaymentStatus.DISPUTED)
    minor = _exact_minor(notice.amount, payment.currency)
    if minor is None or not 0 < minor <= payment.captured_minor:
        return (
            f"chargeback amount {notice.amount} is not an exact amount of the captured "
            f"{payment.currency.upper()}: the payment is disputed, the disputed amount is left to an operator"
        )
    # NetValve names no dispute id: a second notice for the same sale (a later cycle) is the same money.
    payment.disputed_minor = max(payment.disputed_minor, minor)
    return None


def clear(payment: Payment) -> dict[str, Any]:
    """Undo a dispute recorded in error (an operator's decision): the payment's status goes back to what its
    amounts say. Returns what was cleared, for the audit."""
    before = {
        "status": payment.status,
        "disputed_amount": str(from_minor(payment.disputed_minor, payment.currency)),
        "disputed_at": payment.disputed_at.isoformat() if payment.disputed_at else None,
        "dispute_type": payment.dispute_type,
        "dispute_source": payment.dispute_source,
        "dispute_noticed_at": payment.dispute_noticed_at.isoformat() if payment.dispute_noticed_at else None,
    }
    payment.disputed_minor = 0
    payment.disputed_at = None
    payment.dispute_type = None
    payment.dispute_source = None
    payment.dispute_noticed_at = None
    transition(payment, derived_status(payment))
    return before


def dispute_data(payment: Payment, notice: Notice) -> dict[str, Any]:
    """What Medusa is told of a notice (``data.dispute`` of the forwarded webhook)."""
    exact = _exact_minor(notice.amount, payment.currency)
    return {
        "kind": notice.kind.value,
        "type": notice.type,
        "source": notice.source,
        "amount": None if exact is None else str(from_minor(exact, payment.currency)),
        "disputed_amount": str(from_minor(payment.disputed_minor, payment.currency)),
        "currency_code": payment.currency,
        "status": payment.status,
        "netvalve_transaction_id": payment.netvalve_transaction_id,
    }
