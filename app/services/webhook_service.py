"""NetValve webhooks after they are stored: resolve the payment, confirm with NetValve, record the
Medusa action and queue its forward. Runs in a worker, never inside the webhook request."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.gateway.events import EventKind, dedup_key, delivery, event_kind
from app.models import Payment, PaymentStatus, WebhookEvent, WebhookEventStatus
from app.repositories.payments import PaymentRepository
from app.repositories.webhooks import WebhookRepository
from app.services import disputes
from app.services.announce import LEDGER_ACTIONS, dispute_row, forward_row
from app.services.reconciliation import Reconciliation

logger = logging.getLogger(__name__)

WEBHOOKS = Counter(
    "netvalve_webhooks_total",
    "NetValve webhook deliveries and their processing, by result.",
    ["result"],
)
# received | duplicate | rejected | processed | pending | attention | failed | forwarded | forward_failed
# | chargeback_unconfirmed

CLAIM_LEASE = timedelta(seconds=120)

MEDUSA_ACTIONS: Mapping[EventKind, str] = {
    EventKind.AUTHORIZED: "authorized",
    EventKind.CAPTURED: "captured",
    EventKind.FAILED: "failed",
    EventKind.PENDING: "pending",
    EventKind.CANCELED: "canceled",
    EventKind.REFUNDED: "not_supported",
    EventKind.CHARGEBACK: "not_supported",
    EventKind.UNKNOWN: "not_supported",
}

# The Medusa action the ledger's (NetValve-confirmed) state stands for.
# The ledger's own announcements, plus "pending" while NetValve's outcome is open.
CONFIRMED_ACTIONS: Mapping[PaymentStatus, str] = {
    **LEDGER_ACTIONS,
    PaymentStatus.PENDING: "pending",
    PaymentStatus.UNKNOWN: "pending",
}

# Headers never stored with an event.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def medusa_action(event_name: str | None) -> str:
    return MEDUSA_ACTIONS[event_kind(event_name)]


def safe_headers(headers: Mapping[str, str], auth_header: str | None) -> dict[str, str]:
    hidden = SECRET_HEADERS | ({auth_header.lower()} if auth_header else set())
    return {name.lower(): value for name, value in headers.items() if name.lower() not in hidden}


def _transaction_id(value: Any) -> int | None:
    """NetValve's transaction id as the BIGINT column can hold it; None for anything else."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number < 2**63 else None


def _str_or_none(value: Any, limit: int = 128) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:limit]


def storable(value: Any) -> Any:
    """``value`` with NUL characters and unpaired surrogates replaced by U+FFFD (PostgreSQL stores neither);
    the very same object when there is nothing to replace."""
    if isinstance(value, str):
        if "\x00" not in value:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                pass
            else:
                return value
        # Parsed JSON holds a surrogate only when it is unpaired: a pair became one character.
        return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in value)
    if isinstance(value, Mapping):
        pairs = [(storable(key), storable(item)) for key, item in value.items()]
        if all(new[0] is old[0] and new[1] is old[1] for new, old in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if isinstance(value, list):
        items = [storable(item) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value


def event_row(
    payload: Mapping[str, Any], raw_body: str, headers: dict[str, str], source_ip: str | None
) -> dict[str, Any]:
    """Column values of a new ``webhook_events`` row for a parsed delivery. A body holding characters
    PostgreSQL cannot store is kept: ``raw_body`` exactly, ``payload`` and the columns with U+FFFD instead."""
    clean = storable(payload)
    # Unchanged, the body's own text is the payload: nothing is encoded a second time.
    stored_payload = raw_body if clean is payload else json.dumps(clean)
    payload = clean
    sent = delivery(payload)
    name = str(sent.event_name)[:64]
    kind = event_kind(name)
    return {
        "dedup_key": dedup_key(payload),
        "event_name": name,
        "netvalve_transaction_id": _transaction_id(sent.transaction_id),
        "client_order_id": _str_or_none(sent.client_order_id),
        "trace_id": _str_or_none(sent.trace_id),
        "medusa_action": MEDUSA_ACTIONS[kind],
        "status": (
            WebhookEventStatus.NOT_SUPPORTED if kind is EventKind.UNKNOWN else WebhookEventStatus.RECEIVED
        ),
        "raw_body": raw_body,
        "payload": stored_payload,
        "headers": headers,
        "source_ip": source_ip,
    }


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Capped exponential backoff after ``attempts`` failed attempts (1, 2, ...)."""
    exponent = min(max(attempts - 1, 0), 32)
    return float(min(settings.webhook_retry_base_seconds * (2**exponent), settings.webhook_retry_max_seconds))


class WebhookProcessor:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        netvalve: Reconciliation,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.netvalve = netvalve

    async def process_due(self, limit: int) -> int:
        """Process up to ``limit`` due events; returns how many were claimed."""
        # One statement: it commits by itself (each poll of an idle replica is one round trip).
        async with self.netvalve.reads() as db:
            events = await WebhookRepository(db).claim_due_events(limit, CLAIM_LEASE)
        for event in events:
            try:
                await self._process(event)
            except Exception as exc:
                logger.exception("webhook processing failed", extra={"webhook_event_id": event.id})
                WEBHOOKS.labels("failed").inc()
                await self._retry_later(event.id, f"{type(exc).__name__}: {exc}"[:1000])
        return len(events)

    async def _resolve(self, event: WebhookEvent) -> Payment | None:
        async with self.netvalve.reads() as db:
            repo = PaymentRepository(db)
            payment = None
            if event.netvalve_transaction_id is not None:
                payment = await repo.find_by_transaction(event.netvalve_transaction_id)
            if payment is None and event.client_order_id:
                payment = await repo.find_by_client_order_id(event.client_order_id)
            return payment

    async def _process(self, event: WebhookEvent) -> None:
        payment = await self._resolve(event)
        if payment is None:
            await self._retry_later(event.id, "no payment for this transaction yet")
            return
        # NetValve is the truth: only its answer moves the ledger, never the webhook body.
        answered = _already_recorded(event, payment) or await self.netvalve.settle(payment.id, refresh=True)
        if not answered:
            await self._retry_later(event.id, "NetValve did not confirm the payment's state")
            return
        if event_kind(event.event_name) is EventKind.CHARGEBACK:
            await self._dispute(event, payment.id)
            return
        async with self.sessionmaker.begin() as db:
            repo = WebhookRepository(db)
            locked = await self._lock_open(repo, event.id)
            if locked is None:
                return
            current = await PaymentRepository(db).lock(payment.id)
            action = medusa_action(locked.event_name)
            _finish(locked, current, action)
            forward = self._forward_payload(locked, current, action)
            if forward is not None:
                await repo.insert_outbox(forward)
        WEBHOOKS.labels("processed").inc()

    async def _dispute(self, event: WebhookEvent, payment_id: int) -> None:
        """A CHARGEBACK, once the ledger holds captured money (the sale's own webhook may come later) and
        NetValve's look-up of the payment's transaction carries it."""
        async with self.netvalve.reads() as db:
            repo = PaymentRepository(db)
            payment = await db.get(Payment, payment_id)
            assert payment is not None
            named = event.netvalve_transaction_id
            owner = await repo.find_by_transaction(named) if named is not None else payment
        if payment.captured_minor == 0:
            await self._retry_later(
                event.id, "no captured money on the payment: NetValve has not confirmed it"
            )
            return
        txn = named if named is not None else payment.netvalve_transaction_id
        if txn is None or owner is None or owner.id != payment_id:
            # The body pairs this payment's reference with a transaction that is not the payment's.
            await self._unconfirmed(event.id, payment_id, txn)
            return
        lookup = await self.netvalve.gateway.get_transaction(txn)
        if not lookup.answered:
            await self._retry_later(event.id, "NetValve did not answer the chargeback look-up")
            return
        entries = lookup.details.chargebacks if lookup.ok and lookup.details is not None else []
        claimed = disputes.read_notice(event.raw_body)
        notice = disputes.confirmed(claimed, entries)
        if notice is None:
            await self._unconfirmed(event.id, payment_id, txn)
            return
        problem: str | None = None
        async with self.sessionmaker.begin() as db:
            repo_w = WebhookRepository(db)
            locked = await self._lock_open(repo_w, event.id)
            if locked is None:
                return
            current = await PaymentRepository(db).lock(payment_id)
            problem = disputes.record(current, notice, datetime.now(UTC))
            _finish(locked, current, "not_supported", problem)
            row = dispute_row(current, disputes.dispute_data(current, notice), locked.id)
            if row is not None and self.settings.medusa_webhook_url:
                await repo_w.insert_outbox(row)
        disputes.DISPUTES.labels(notice.label, notice.kind.value).inc()
        if problem is not None:
            logger.error(problem, extra={"payment_id": payment_id, "webhook_event_id": event.id})
        WEBHOOKS.labels("processed" if problem is None else "attention").inc()

    async def _unconfirmed(self, event_id: int, payment_id: int, transaction_id: int | None) -> None:
        """A CHARGEBACK NetValve does not hold: the payment is left alone, the event rejected. Its
        de-duplication key is given back, so that a forgery sent first cannot shadow the genuine notice."""
        async with self.sessionmaker.begin() as db:
            event = await self._lock_open(WebhookRepository(db), event_id)
            if event is None:
                return
            event.status = WebhookEventStatus.REJECTED
            event.dedup_key = f"rejected|{event.id}"
            event.attempts += 1
            event.last_error = f"NetValve does not confirm this chargeback on transaction {transaction_id}"
            event.processed_at = datetime.now(UTC)
        logger.warning(
            "chargeback not confirmed by NetValve: the payment is unchanged",
            extra={"payment_id": payment_id, "webhook_event_id": event_id, "transaction_id": transaction_id},
        )
        WEBHOOKS.labels("chargeback_unconfirmed").inc()

    @staticmethod
    async def _lock_open(repo: WebhookRepository, event_id: int) -> WebhookEvent | None:
        """The event under its row lock, or None when another worker finished it meanwhile."""
        event = await repo.lock_event(event_id)
        if event is None or event.status not in (WebhookEventStatus.RECEIVED, WebhookEventStatus.PENDING):
            return None
        return event

    def _forward_payload(self, event: WebhookEvent, payment: Payment, action: str) -> dict[str, Any] | None:
        """The outbox row for an applied action, or None: only what the ledger confirms is forwarded."""
        if not self.settings.medusa_webhook_url or action == "not_supported":
            return None
        if payment.payment_session_id is None:
            return None
        if CONFIRMED_ACTIONS.get(PaymentStatus(payment.status)) != action:
            return None
        # Keyed by the payment's own transaction, like the ledger's announcement of the same move.
        return forward_row(payment, action, payment.netvalve_transaction_id, event.id)

    async def _retry_later(self, event_id: int, reason: str) -> None:
        async with self.sessionmaker.begin() as db:
            event = await self._lock_open(WebhookRepository(db), event_id)
            if event is None:
                return
            now = datetime.now(UTC)
            event.attempts += 1
            event.last_error = reason
            if now - event.received_at >= timedelta(seconds=self.settings.webhook_give_up_after_seconds):
                event.status = WebhookEventStatus.ATTENTION
                WEBHOOKS.labels("attention").inc()
            else:
                event.status = WebhookEventStatus.PENDING
                event.next_attempt_at = now + timedelta(
                    seconds=backoff_seconds(self.settings, event.attempts)
                )
                WEBHOOKS.labels("pending").inc()


def _already_recorded(event: WebhookEvent, payment: Payment) -> bool:
    """The event tells of the payment's own transaction what the ledger already holds from NetValve's
    answer to our call: a look-up could teach nothing (a refund or a chargeback comes with events of its
    own), so none is made."""
    if payment.operation_in_flight is not None or event.netvalve_transaction_id is None:
        return False
    if event.netvalve_transaction_id != payment.netvalve_transaction_id:
        return False
    return LEDGER_ACTIONS.get(PaymentStatus(payment.status)) == medusa_action(event.event_name)


def _finish(event: WebhookEvent, payment: Payment, action: str, problem: str | None = None) -> None:
    """Mark a claimed event done: processed, or left for an operator with ``problem``."""
    event.status = WebhookEventStatus.PROCESSED if problem is None else WebhookEventStatus.ATTENTION
    event.payment_session_id = payment.payment_session_id
    event.medusa_action = action
    event.processed_at = datetime.now(UTC)
    event.attempts += 1
    event.last_error = problem
