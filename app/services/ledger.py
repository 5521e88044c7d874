"""The one call protocol that keeps money safe, written once.

1. ``open_call``: under the payment's row lock, record the call (its reference, amount and the caller's
   Idempotency-Key) and commit *before* anything is sent, so that a crash leaves a trace to reconcile.
2. The gateway is called with no lock held.
3. ``settle``: under the lock again, record what became of the call and move the ledger, once. Whoever
   records a call second (the request, a look-up, a webhook) finds it settled and applies nothing, except
   an approval arriving after the call was taken for "not sent": the charge exists, so it always wins.

Every transition Medusa must hear of is queued in the outbox in the same transaction (``announce``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.gateway import ALREADY_DONE, GatewayResult, Outcome
from app.models import CallOutcome, GatewayTransaction, Operation, Payment, PaymentStatus
from app.repositories.payments import OPEN_CALL_OUTCOMES, PaymentRepository
from app.repositories.webhooks import WebhookRepository
from app.services.announce import forward_row, ledger_action
from app.services.payment_state import ON_APPROVED

logger = logging.getLogger(__name__)

LATE_APPROVALS = Counter(
    "netvalve_late_approvals_total",
    "Approvals NetValve reported after the ledger had taken the call for not sent, by whether it could "
    "still be applied.",
    ["applied"],
)

AUTHORIZATIONS_EXPIRED = Counter(
    "netvalve_authorizations_expired_total",
    "Captures NetValve refused because the issuer had released the authorization (it lapsed).",
)

PAYMENT_OPERATIONS = frozenset({Operation.SALE, Operation.AUTHORIZE})


def call_outcome(result: GatewayResult[Any]) -> CallOutcome:
    """What a gateway call's own answer says became of it (the one seam from the gateway's ``Outcome`` to
    the ledger's ``CallOutcome``). "Already done" is success."""
    if result.ok or result.outcome in ALREADY_DONE:
        return CallOutcome.APPROVED
    if result.outcome is Outcome.PENDING:
        return CallOutcome.PENDING
    if result.declined:
        return CallOutcome.DECLINED
    if not result.request_sent:
        return CallOutcome.NOT_SENT
    if result.nothing_happened:
        return CallOutcome.REJECTED
    # Timeout, 5xx, an echo that does not match, a duplicate order: NetValve may hold the money.
    return CallOutcome.UNKNOWN


def transition(payment: Payment, status: PaymentStatus) -> None:
    """Move ``payment`` to ``status``: the one place a payment's status is written (the payment is under its
    row lock, and ``Ledger.locked`` tells Medusa of the move)."""
    payment.status = status


@dataclass(frozen=True)
class CallRef:
    payment_id: int
    call_id: int


def derived_status(payment: Payment) -> PaymentStatus:
    """The status the amounts imply, used when an operation turned out not to have happened."""
    if payment.disputed_at is not None:
        return PaymentStatus.DISPUTED
    if payment.refunded_minor > 0:
        return PaymentStatus.REFUNDED
    if payment.captured_minor > 0:
        return PaymentStatus.CAPTURED
    if payment.authorized_minor > 0:
        return PaymentStatus.AUTHORIZED
    if payment.last_response_code and payment.attempt > 1:
        return PaymentStatus.ERROR
    return PaymentStatus.REQUIRES_MORE


class LockedPayment:
    """The ledger inside one transaction, with the payment's row lock held."""

    def __init__(self, db: AsyncSession, payment: Payment) -> None:
        self.db = db
        self.repo = PaymentRepository(db)
        self.payment = payment

    async def open_call(
        self,
        operation: Operation,
        *,
        reference: str,
        amount_minor: int | None,
        medusa_amount: Decimal | None = None,
        parent_transaction_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> CallRef:
        # Marked before the call's row is added: its flush writes the payment's changes in one UPDATE.
        self.payment.operation_in_flight = operation
        if operation in PAYMENT_OPERATIONS:
            transition(self.payment, PaymentStatus.PENDING)
        call = await self.repo.add_call(
            self.payment,
            operation,
            reference=reference,
            amount_minor=amount_minor,
            medusa_amount=medusa_amount,
            parent_transaction_id=parent_transaction_id,
            idempotency_key=idempotency_key,
        )
        return CallRef(self.payment.id, call.id)

    async def call(self, call_id: int) -> GatewayTransaction:
        return await self.repo.get_call(call_id)

    def answer(
        self, call: GatewayTransaction, result: GatewayResult[Any], amount_minor: int | None = None
    ) -> bool:
        """Record a call's own answer (the one place a gateway answer moves the ledger)."""
        applied = self.settle(
            call, call_outcome(result), transaction_id=result.transaction_id, amount_minor=amount_minor
        )
        if not applied:
            return False
        call.http_status = result.http_status
        call.response_code = result.code
        call.response_message = result.message
        payment = self.payment
        payment.last_response_code = result.code
        if result.outcome is Outcome.AUTHORIZATION_EXPIRED and call.operation == Operation.CAPTURE:
            self._authorization_lapsed(result.code)
        if Operation(call.operation) in PAYMENT_OPERATIONS:
            payment.last_response_message = result.message
            if result.response is not None:
                payment.card_masked = result.response.card_number or payment.card_masked
                payment.card_brand = result.response.card_type or payment.card_brand
        return True

    async def counted_ids(self) -> set[int]:
        """NetValve ids of the calls the ledger has counted, read under the lock."""
        return await self.repo.approved_transaction_ids(self.payment.id)

    def settle(
        self,
        call: GatewayTransaction,
        outcome: CallOutcome,
        *,
        transaction_id: int | None = None,
        amount_minor: int | None = None,
    ) -> bool:
        """Record ``outcome`` for ``call`` and move the ledger; False when the call was settled before."""
        if call.outcome not in OPEN_CALL_OUTCOMES:
            if outcome is CallOutcome.APPROVED and call.outcome == CallOutcome.NOT_SENT:
                self._late_approval(call, transaction_id, amount_minor)
                return True
            return False
        operation = Operation(call.operation)
        payment = self.payment
        if transaction_id is not None:
            call.netvalve_transaction_id = transaction_id
            if operation in PAYMENT_OPERATIONS:
                payment.netvalve_transaction_id = transaction_id
        call.outcome = outcome
        open_ = outcome in (CallOutcome.PENDING, CallOutcome.UNKNOWN)
        call.completed_at = None if open_ else datetime.now(UTC)
        if outcome is CallOutcome.APPROVED:
            self._apply(operation, amount_minor if amount_minor is not None else call.amount_minor)
        elif outcome is CallOutcome.PENDING:
            if operation in PAYMENT_OPERATIONS:
                transition(payment, PaymentStatus.PENDING)
        elif outcome is CallOutcome.UNKNOWN:
            transition(payment, PaymentStatus.UNKNOWN)
        elif outcome is CallOutcome.DECLINED and operation in PAYMENT_OPERATIONS:
            transition(payment, PaymentStatus.ERROR)
        else:
            transition(payment, derived_status(payment))
        # A pending call keeps the payment busy: its outcome is owed, and reconciliation collects it.
        if outcome is not CallOutcome.PENDING:
            payment.operation_in_flight = None
        return True

    def record_external(self, operation: Operation, minor: int) -> None:
        """Move the ledger by an approved follow-up made outside this service (amount from NetValve)."""
        self._apply(operation, minor)

    def _apply(self, operation: Operation, minor: int | None) -> None:
        payment = self.payment
        if operation in PAYMENT_OPERATIONS:
            payment.authorized_minor = payment.amount_minor
            payment.authorized_at = payment.authorized_at or datetime.now(UTC)
            if operation is Operation.SALE:
                payment.captured_minor = payment.amount_minor
        elif operation is Operation.CAPTURE:
            payment.captured_minor += minor or 0
            payment.final_capture_done = True
        elif operation is Operation.REFUND:
            payment.refunded_minor += minor or 0
        # A dispute outlives what follows it, e.g. a refund that was already on its way to NetValve.
        transition(
            payment, PaymentStatus.DISPUTED if payment.disputed_at is not None else ON_APPROVED[operation]
        )
        payment.operation_in_flight = None
        if payment.disputed_at is not None and operation is Operation.REFUND:
            logger.error(
                "a refund went through on a disputed payment: the cardholder may be repaid twice (act on it)",
                extra={"payment_id": payment.id, "refunded_minor": payment.refunded_minor},
            )

    def _authorization_lapsed(self, code: str | None) -> None:
        """NetValve refused the capture because the issuer released the hold: nothing is held any more, so the
        payment ends canceled (Medusa hears ``canceled``) and says why."""
        payment = self.payment
        payment.authorization_expired_at = datetime.now(UTC)
        transition(payment, PaymentStatus.CANCELED)
        AUTHORIZATIONS_EXPIRED.inc()
        logger.warning(
            "capture refused: the authorization lapsed",
            extra={
                "payment_id": payment.id,
                "authorized_at": payment.authorized_at.isoformat() if payment.authorized_at else None,
                "response_code": code,
            },
        )

    def _late_approval(self, call: GatewayTransaction, transaction_id: int | None, minor: int | None) -> None:
        """NetValve approved a call the ledger had closed as not sent: the money moved, so record it."""
        payment = self.payment
        operation = Operation(call.operation)
        call.outcome = CallOutcome.APPROVED
        call.netvalve_transaction_id = transaction_id or call.netvalve_transaction_id
        call.completed_at = datetime.now(UTC)
        minor = minor if minor is not None else call.amount_minor
        if operation in PAYMENT_OPERATIONS:
            fits = payment.authorized_minor == 0 and payment.operation_in_flight is None
        elif operation is Operation.CAPTURE:
            fits = 0 < (minor or 0) <= payment.authorized_minor - payment.captured_minor
        elif operation is Operation.REFUND:
            fits = 0 < (minor or 0) <= payment.captured_minor - payment.refunded_minor
        else:
            fits = payment.status == PaymentStatus.AUTHORIZED
        LATE_APPROVALS.labels("yes" if fits else "no").inc()
        logger.error(
            "late approval of a %s the ledger had taken for not sent%s",
            operation.value,
            "" if fits else ": the ledger moved on, NetValve holds money the ledger cannot (act on it)",
            extra={"payment_id": payment.id, "call_id": call.id, "netvalve_transaction_id": transaction_id},
        )
        if not fits:
            return
        if operation in PAYMENT_OPERATIONS and transaction_id is not None:
            payment.netvalve_transaction_id = transaction_id
        self._apply(operation, minor)


class Ledger:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker

    @asynccontextmanager
    async def locked(self, payment_id: int) -> AsyncIterator[LockedPayment]:
        """The payment under its row lock for one transaction; what Medusa must hear is queued on exit."""
        async with self.sessionmaker.begin() as db:
            locked = LockedPayment(db, await PaymentRepository(db).lock(payment_id))
            before = PaymentStatus(locked.payment.status)
            yield locked
            await self.announce(db, locked.payment, before)

    async def announce(self, db: AsyncSession, payment: Payment, before: PaymentStatus) -> None:
        """Queue Medusa's action for a transition, whatever moved the ledger (request, webhook, look-up)."""
        status = PaymentStatus(payment.status)
        action = ledger_action(status)
        if status is before or action is None or not self.settings.medusa_webhook_url:
            return
        row = forward_row(payment, action, payment.netvalve_transaction_id)
        if row is not None:
            await WebhookRepository(db).insert_outbox(row)
