"""Capture, refund and cancel (void): the same call protocol as pay, on an existing payment; and an
operator clearing a dispute recorded in error."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError
from app.core.money import from_minor, round_to_minor
from app.gateway import (
    ALREADY_DONE,
    GatewayResult,
    Outcome,
    Refusal,
    requests,
)
from app.models import CallOutcome, Operation, Payment, PaymentStatus
from app.repositories.payments import OPEN_CALL_OUTCOMES, PaymentRepository
from app.schemas.netvalve import DisputeClearResponse, MoneyOperationResponse
from app.services import disputes, errors
from app.services.context import ServiceContext
from app.services.ledger import LockedPayment
from app.services.payment_state import is_allowed, is_already_done
from app.services.recorded_refunds import RecordedRefunds
from app.services.views import Answer, is_open, money_response

logger = logging.getLogger(__name__)

Send = Callable[[Any], Awaitable[GatewayResult[None]]]
DISPUTE_CLEARED = "dispute_cleared"
REFUSALS: dict[Refusal, type[AppError]] = {
    Refusal.EXCEEDS_AUTHORIZED: errors.CaptureExceedsAuthorized,
    Refusal.EXCEEDS_CAPTURED: errors.RefundExceedsCaptured,
}


class MoneyOperations:
    def __init__(self, ctx: ServiceContext) -> None:
        self.sessionmaker = ctx.sessionmaker
        self.reads = ctx.reads
        self.ledger = ctx.ledger
        self.gateway = ctx.gateway
        self.recorded = RecordedRefunds(ctx.carts.medusa)

    async def capture(
        self,
        transaction_id: int | None,
        session_id: str | None,
        amount: Decimal | None,
        key: str | None = None,
    ) -> Answer[MoneyOperationResponse]:
        """Full capture by default; a smaller amount is a partial, final capture (the rest is released)."""
        return await self._run(Operation.CAPTURE, transaction_id, session_id, amount, key)

    async def refund(
        self,
        transaction_id: int | None,
        session_id: str | None,
        amount: Decimal | None,
        key: str | None = None,
    ) -> Answer[MoneyOperationResponse]:
        """Full refund of what remains by default; never more than captured minus refunded."""
        return await self._run(Operation.REFUND, transaction_id, session_id, amount, key)

    async def cancel(
        self, transaction_id: int | None, session_id: str | None, key: str | None = None
    ) -> Answer[MoneyOperationResponse]:
        """Void an uncaptured authorization."""
        return await self._run(Operation.CANCEL, transaction_id, session_id, None, key)

    async def clear_dispute(
        self,
        transaction_id: int | None,
        session_id: str | None,
        reason: str,
        actor: str,
        source_ip: str | None,
    ) -> DisputeClearResponse:
        """An operator's word that a dispute was recorded in error: refunds work again. Nothing is sent to
        NetValve; the change and what it undid are kept in ``payment_audit`` and logged."""
        async with self.sessionmaker.begin() as db:
            payment = await self._find(db, transaction_id, session_id)
            if payment.disputed_at is None and payment.dispute_type is None:
                raise errors.PaymentNotDisputed()
            if payment.operation_in_flight:
                raise errors.OperationInProgress()
            before = disputes.clear(payment)
            await PaymentRepository(db).add_audit(
                payment.id,
                action=DISPUTE_CLEARED,
                actor=actor,
                source_ip=source_ip,
                reason=reason,
                before=before,
            )
            body = DisputeClearResponse(
                **money_response(payment).model_dump(),
                disputed_amount=from_minor(payment.disputed_minor, payment.currency),
                dispute_type=payment.dispute_type,
            )
        logger.warning(
            "dispute cleared by an operator",
            extra={
                "payment_id": payment.id,
                "actor": actor,
                "source_ip": source_ip,
                "reason": reason,
                "status": body.status.value,
                "cleared_status": before["status"],
                "cleared_amount": before["disputed_amount"],
                "cleared_type": before["dispute_type"],
            },
        )
        return body

    async def _run(
        self,
        operation: Operation,
        transaction_id: int | None,
        session_id: str | None,
        amount: Decimal | None,
        key: str | None,
    ) -> Answer[MoneyOperationResponse]:
        bound = await self._bound_to_key(key)
        if bound is not None:
            return bound
        async with self.sessionmaker.begin() as db:
            payment = await self._find(db, transaction_id, session_id)
            done = self._refuse_or_done(payment, operation)
            if done is not None:
                return done
            if operation is Operation.REFUND:
                recorded = await self.recorded.record(db, payment, amount, key)
                if recorded is not None:
                    body = money_response(
                        payment,
                        operation_transaction_id=recorded.netvalve_transaction_id,
                        response_code=recorded.response_code,
                        already_done=True,
                    )
                    return Answer(body, is_open=False)
            target = payment.netvalve_transaction_id
            if operation is Operation.REFUND:
                # NetValve refunds the sale or, after authorize-capture, the capture.
                target = await PaymentRepository(db).capture_transaction_id(payment.id) or target
            carry = Decimal(0)
            if operation is Operation.REFUND and amount is not None:
                carry = await PaymentRepository(db).refund_rounding_carry(payment)
            minor, request, send = self._plan(operation, payment, amount, target, carry)
            ref = await LockedPayment(db, payment).open_call(
                operation,
                reference=f"{payment.client_order_id}-{operation.value}",
                amount_minor=minor or None,
                medusa_amount=amount,
                parent_transaction_id=target,
                idempotency_key=key,
            )

        result = await send(request)

        async with self.ledger.locked(ref.payment_id) as locked:
            payment = locked.payment
            if result.outcome is Outcome.ALREADY_REFUNDED:
                minor = payment.captured_minor - payment.refunded_minor
            applied = locked.answer(await locked.call(ref.call_id), result, amount_minor=minor)
            body = money_response(
                payment,
                operation_transaction_id=result.transaction_id,
                response_code=result.code,
                already_done=result.outcome in ALREADY_DONE,
            )
            answer = Answer(body, is_open(payment))
        if not applied or result.ok or answer.is_open or body.already_done:
            return answer
        if result.outcome is Outcome.AUTHORIZATION_EXPIRED and operation is Operation.CAPTURE:
            raise errors.AuthorizationExpired(details={"response_code": result.code})
        if result.refusal in REFUSALS:
            raise REFUSALS[result.refusal](result.message)
        if result.declined:
            raise errors.OperationDeclined(result.message, details={"response_code": result.code})
        errors.raise_if_nothing_happened(result)
        raise errors.GatewayRejected(result.message, details={"response_code": result.code})

    async def _bound_to_key(self, key: str | None) -> Answer[MoneyOperationResponse] | None:
        """A retry of a request that already made its call answers from that call, never sends again."""
        if key is None:
            return None
        async with self.reads() as db:
            call = await PaymentRepository(db).call_for_key(key)
            if call is None or call.outcome not in (*OPEN_CALL_OUTCOMES, CallOutcome.APPROVED):
                return None
            payment = await db.get(Payment, call.payment_id)
            assert payment is not None
            body = money_response(
                payment,
                operation_transaction_id=call.netvalve_transaction_id,
                response_code=call.response_code,
            )
            return Answer(body, call.outcome in OPEN_CALL_OUTCOMES)

    @staticmethod
    async def _find(db: AsyncSession, transaction_id: int | None, session_id: str | None) -> Payment:
        repo = PaymentRepository(db)
        payment = None
        if transaction_id is not None:
            payment = await repo.find_by_transaction(transaction_id)
        elif session_id is not None:
            payment = await repo.find_by_session(session_id)
        if payment is None:
            raise errors.PaymentNotFound()
        return await repo.lock(payment.id)

    @staticmethod
    def _refuse_or_done(payment: Payment, operation: Operation) -> Answer[MoneyOperationResponse] | None:
        """The answer when nothing is to be sent (already done), an error when the state forbids it."""
        status = PaymentStatus(payment.status)
        if payment.operation_in_flight:
            raise errors.OperationInProgress()
        done = Answer(money_response(payment, already_done=True), is_open=False)
        if is_already_done(status, operation):
            return done
        if operation is Operation.CAPTURE and _no_longer_held(payment):
            raise errors.AuthorizationExpired(details={"status": status.value})
        if operation is Operation.REFUND and payment.disputed_at is not None:
            raise errors.PaymentDisputed(
                details={"disputed_amount": str(from_minor(payment.disputed_minor, payment.currency))}
            )
        if is_allowed(status, operation):
            return None
        if operation is Operation.CANCEL and status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED):
            raise errors.PaymentCapturedUseRefund()
        if operation is Operation.CAPTURE and payment.final_capture_done:
            return done
        raise errors.InvalidTransition(
            f"A payment in status '{status.value}' cannot be {operation.value}d.",
            details={"status": status.value, "operation": operation.value},
        )

    def _plan(
        self,
        operation: Operation,
        payment: Payment,
        amount: Decimal | None,
        target: int | None,
        carry: Decimal,
    ) -> tuple[int, Any, Send]:
        if operation is Operation.CAPTURE:
            remaining = payment.authorized_minor - payment.captured_minor
            minor = _bounded(payment, amount, remaining, errors.CaptureExceedsAuthorized, "capturable")
            capture = requests.capture(target, from_minor(minor, payment.currency), partial=minor < remaining)
            return minor, capture, self.gateway.capture
        if operation is Operation.REFUND:
            remaining = payment.captured_minor - payment.refunded_minor
            # Rounded with what earlier refunds left over, so that Medusa's exact refunds, however split,
            # add up to what NetValve charged: three thirds of 29.7381 are 9.92 + 9.91 + 9.91.
            minor = _bounded(payment, amount, remaining, errors.RefundExceedsCaptured, "refundable", carry)
            refund = requests.refund(target, from_minor(minor, payment.currency))
            return minor, refund, self.gateway.refund
        return 0, requests.cancel(target), self.gateway.cancel


def _no_longer_held(payment: Payment) -> bool:
    """The issuer released the authorization (NetValve said so), or it was voided once near expiry."""
    if payment.authorization_expired_at is not None:
        return True
    return payment.status == PaymentStatus.CANCELED and payment.near_expiry_at is not None


def _bounded(
    payment: Payment,
    amount: Decimal | None,
    remaining: int,
    error: type[AppError],
    room: str,
    carry: Decimal = Decimal(0),
) -> int:
    """The requested amount (all that remains by default) in minor units, refused beyond ``remaining``."""
    if amount is None:
        minor = remaining
    else:
        minor = round_to_minor(carry + amount, payment.currency)
        if minor <= 0 < remaining:
            raise errors.InvalidAmount(
                f"{amount} {payment.currency} rounds to nothing NetValve can move",
                details={"requested": str(amount)},
            )
    if minor <= 0 or minor > remaining:
        money = {"requested": str(amount if amount is not None else from_minor(minor, payment.currency))}
        raise error(details={**money, room: str(from_minor(remaining, payment.currency))})
    return minor
