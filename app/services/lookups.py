"""What NetValve's look-ups (``/order``, ``/transaction``, ``/inquiry``) say, applied to the ledger under its
row lock. Only an answer settles a call; "not found" settles nothing while the request may be on its way."""

from __future__ import annotations

import logging
from typing import Any

from app.core.config import CaptureMode
from app.core.money import to_minor
from app.gateway import DECLINES, GatewayResult, Outcome, TransactionSummary, TxnKind
from app.models import CallOutcome, Operation, Payment, PaymentStatus
from app.repositories.payments import OPEN_CALL_OUTCOMES
from app.services.attempts import is_hosted
from app.services.ledger import Ledger, LockedPayment, derived_status, transition

logger = logging.getLogger(__name__)

FOLLOW_UP_KINDS = {
    TxnKind.CAPTURE: Operation.CAPTURE,
    TxnKind.REFUND: Operation.REFUND,
    TxnKind.CANCEL: Operation.CANCEL,
}
CHILD_KINDS = {operation: kind for kind, operation in FOLLOW_UP_KINDS.items()}


class Lookups:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def apply_order(
        self, payment_id: int, call_id: int | None, order: GatewayResult[Any], young: bool
    ) -> bool:
        """``/order?clientOrderId=`` for a sale or authorization (``call_id``), or for a payment with none."""
        if not order.answered:
            return False
        async with self.ledger.locked(payment_id) as locked:
            payment = locked.payment
            call = await locked.call(call_id) if call_id is not None else None
            details = order.details if order.ok else None
            approved = details.approved_payment() if details is not None else None
            if approved is not None:
                if (
                    approved.amount is not None
                    and to_minor(approved.amount, payment.currency) != payment.amount_minor
                ):
                    logger.error(
                        "NetValve holds a different amount than the ledger", extra={"payment_id": payment_id}
                    )
                    return True
                if call is not None:
                    locked.settle(call, CallOutcome.APPROVED, transaction_id=approved.id_number)
                else:
                    payment.netvalve_transaction_id = approved.id_number or payment.netvalve_transaction_id
                    kind = Operation.SALE if approved.kind is TxnKind.SALE else Operation.AUTHORIZE
                    locked.record_external(kind, 0)
            elif details is not None and details.all_declined():
                if call is not None:
                    locked.settle(call, CallOutcome.DECLINED)
                else:
                    transition(payment, PaymentStatus.ERROR)
            elif order.outcome is Outcome.NOT_FOUND or (details is not None and not details.transactions):
                if young:
                    return True  # the request may still reach NetValve: absence proves nothing yet
                hosted_open = details is not None and not details.closed
                if call is not None and is_hosted(call) and hosted_open:
                    return True  # the shopper may still pay on the hosted page
                if call is not None:
                    locked.settle(call, CallOutcome.NOT_SENT)
                else:
                    transition(payment, derived_status(payment))
        return True

    async def apply_child(
        self, payment_id: int, call_id: int, details: GatewayResult[Any], young: bool
    ) -> bool:
        """``/transaction`` of a capture, refund or cancel's parent: find the child this call made."""
        if not details.ok or details.details is None:
            return False
        async with self.ledger.locked(payment_id) as locked:
            call = await locked.call(call_id)
            if call.outcome not in OPEN_CALL_OUTCOMES:
                return True  # settled meanwhile by the request itself or another look-up
            counted = await locked.counted_ids()
            wanted = CHILD_KINDS[Operation(call.operation)]
            candidates = [
                child
                for child in details.details.transactions
                if child.kind is wanted and child.id_number is not None and child.id_number not in counted
            ]
            match = _match(candidates, call.netvalve_transaction_id, call.amount_minor, locked.payment)
            if match is None:
                if not young:
                    locked.settle(call, CallOutcome.NOT_SENT)
                return True
            if match.outcome is Outcome.APPROVED:
                locked.settle(call, CallOutcome.APPROVED, transaction_id=match.id_number)
            elif match.outcome in DECLINES:
                locked.settle(call, CallOutcome.DECLINED, transaction_id=match.id_number)
        return True

    async def apply_follow_ups(self, payment_id: int, follow_ups: list[TransactionSummary]) -> bool:
        """Record approved captures, refunds and cancels NetValve holds that the ledger has not counted, e.g.
        made in NetValve's back office; forward moves only, amounts from NetValve, each once."""
        async with self.ledger.locked(payment_id) as locked:
            if await locked.repo.open_call(payment_id) is not None:
                return True  # a call is open: its own resolution counts what it made
            counted = await locked.counted_ids()
            for child in follow_ups:
                child_id = child.id_number
                operation = FOLLOW_UP_KINDS.get(child.kind)
                if (
                    operation is None
                    or child_id is None
                    or child_id in counted
                    or child.outcome is not Outcome.APPROVED
                ):
                    continue
                minor = _follow_up_minor(locked.payment, operation, child.amount)
                if minor is None:
                    continue
                await _record_external(locked, operation, child, child_id, minor)
                counted.add(child_id)
        return True

    async def apply_inquiry(self, payment_id: int, inquiry: GatewayResult[Any]) -> bool:
        """``/inquiry`` of a payment NetValve answered "pending" for."""
        if not inquiry.answered:
            return False
        async with self.ledger.locked(payment_id) as locked:
            payment = locked.payment
            if payment.status == PaymentStatus.PENDING and payment.operation_in_flight is None:
                if inquiry.outcome is Outcome.APPROVED:
                    sale = (inquiry.response is not None and inquiry.response.kind is TxnKind.SALE) or (
                        payment.capture_mode == CaptureMode.SALE
                    )
                    locked.record_external(Operation.SALE if sale else Operation.AUTHORIZE, 0)
                elif inquiry.declined:
                    transition(payment, PaymentStatus.ERROR)
                payment.last_response_code = inquiry.code
        return True


def _match(
    candidates: list[TransactionSummary], own_id: int | None, minor: int | None, payment: Payment
) -> TransactionSummary | None:
    """The child a call made: the id NetValve gave it, else an approved one of its amount, else any."""
    if own_id is not None:
        return next((c for c in candidates if c.id_number == own_id), None)
    approved = [c for c in candidates if c.outcome is Outcome.APPROVED]
    same = [
        c
        for c in approved
        if c.amount is not None and minor and to_minor(c.amount, payment.currency) == minor
    ]
    return next(iter(same or approved), None)


async def _record_external(
    locked: LockedPayment, operation: Operation, child: TransactionSummary, child_id: int, minor: int
) -> None:
    payment = locked.payment
    call = await locked.repo.add_call(
        payment,
        operation,
        reference=f"netvalve-{child_id}",
        amount_minor=minor or None,
        parent_transaction_id=payment.netvalve_transaction_id,
    )
    call.outcome = CallOutcome.APPROVED
    call.netvalve_transaction_id = child_id
    call.response_code = child.response_code
    call.completed_at = call.created_at
    locked.record_external(operation, minor)
    logger.info(
        "recorded a %s made outside this service",
        operation.value,
        extra={"payment_id": payment.id, "netvalve_transaction_id": child_id},
    )


def _follow_up_minor(payment: Payment, operation: Operation, amount: Any) -> int | None:
    """The minor amount of a follow-up NetValve reports, or None when it cannot apply to the ledger."""
    status = PaymentStatus(payment.status)
    if operation is Operation.CAPTURE:
        room = payment.authorized_minor - payment.captured_minor
        allowed = status is PaymentStatus.AUTHORIZED
    elif operation is Operation.REFUND:
        room = payment.captured_minor - payment.refunded_minor
        # A refund NetValve made on a disputed payment is money gone too: the ledger counts it.
        allowed = status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)
    else:
        return 0 if status is PaymentStatus.AUTHORIZED else None
    minor = room if amount is None else to_minor(amount, payment.currency)
    if not allowed or not 0 < minor <= room:
        if allowed:
            logger.error(
                "NetValve reports a %s the ledger cannot hold",
                operation.value,
                extra={"payment_id": payment.id, "amount_minor": minor, "room_minor": room},
            )
        return None
    return minor
