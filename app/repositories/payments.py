"""SQL for the ledger: ``payments``, ``payment_transactions``, ``payment_audit`` and ``hpf_tokens``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, String, and_, any_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.money import from_minor
from app.models import (
    CallOutcome,
    GatewayTransaction,
    Operation,
    Payer,
    Payment,
    PaymentAudit,
    PaymentStatus,
)

OPEN_CALL_OUTCOMES = (CallOutcome.IN_FLIGHT, CallOutcome.UNKNOWN, CallOutcome.PENDING)
LIVE_STATUSES = (
    PaymentStatus.PENDING,
    PaymentStatus.UNKNOWN,
    PaymentStatus.AUTHORIZED,
    PaymentStatus.CAPTURED,
    PaymentStatus.REFUNDED,
    PaymentStatus.DISPUTED,
)


def _of(payer: Payer) -> ColumnElement[bool]:
    if payer.cart_id is not None:
        return Payment.cart_id == payer.cart_id
    return and_(Payment.cart_id.is_(None), Payment.payment_collection_id == payer.payment_collection_id)


# The hot paths' statements, built once: each call binds its values, with no statement to build and no cache
# key to compute. The live statuses are one array parameter, not an IN list SQLAlchemy expands per call.
_LIVE = any_(bindparam("live", list(LIVE_STATUSES), type_=ARRAY(String)))
_LIVE_FOR_CART = select(Payment).where(Payment.cart_id == bindparam("cart_id"), Payment.status == _LIVE)
_LIVE_FOR_COLLECTION = select(Payment).where(
    Payment.cart_id.is_(None),
    Payment.payment_collection_id == bindparam("payment_collection_id"),
    Payment.status == _LIVE,
)
_LOCK = (
    select(Payment)
    .where(Payment.id == bindparam("payment_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_BY_SESSION = select(Payment).where(Payment.payment_session_id == bindparam("payment_session_id"))
_CALL = select(GatewayTransaction).where(GatewayTransaction.id == bindparam("call_id"))
_BY_TRANSACTION = select(Payment).where(Payment.netvalve_transaction_id == bindparam("txn")).limit(1)
_BY_CALL_TRANSACTION = (
    select(Payment)
    .join(GatewayTransaction, GatewayTransaction.payment_id == Payment.id)
    .where(GatewayTransaction.netvalve_transaction_id == bindparam("txn"))
    .limit(1)
)
_CART_ATTEMPTS = select(func.coalesce(func.sum(Payment.attempt), 0)).where(
    Payment.cart_id == bindparam("cart_id")
)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, payment_id: int) -> Payment:
        result = await self.session.execute(_LOCK, {"payment_id": payment_id})
        return result.scalar_one()

    async def find_live_for(self, payer: Payer) -> Payment | None:
        if payer.cart_id is not None:
            result = await self.session.execute(_LIVE_FOR_CART, {"cart_id": payer.cart_id})
        else:
            values = {"payment_collection_id": payer.payment_collection_id}
            result = await self.session.execute(_LIVE_FOR_COLLECTION, values)
        return result.scalar_one_or_none()

    async def find_latest_for(self, payer: Payer) -> Payment | None:
        result = await self.session.execute(
            select(Payment).where(_of(payer)).order_by(Payment.id.desc()).limit(1)
        )
        return result.scalar_one_or_none()

    async def find_by_session(self, payment_session_id: str) -> Payment | None:
        result = await self.session.execute(_BY_SESSION, {"payment_session_id": payment_session_id})
        return result.scalar_one_or_none()

    async def find_by_transaction(self, netvalve_transaction_id: int) -> Payment | None:
        values = {"txn": netvalve_transaction_id}
        payment = (await self.session.execute(_BY_TRANSACTION, values)).scalar_one_or_none()
        if payment is not None:
            return payment
        return (await self.session.execute(_BY_CALL_TRANSACTION, values)).scalar_one_or_none()

    async def find_by_client_order_id(self, client_order_id: str) -> Payment | None:
        result = await self.session.execute(
            select(Payment)
            .outerjoin(GatewayTransaction, GatewayTransaction.payment_id == Payment.id)
            .where(
                or_(
                    Payment.client_order_id == client_order_id,
                    GatewayTransaction.request_reference == client_order_id,
                )
            )
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def attempts_for(self, payer: Payer) -> int:
        """Payment attempts made for the cart (or collection), over all its payment sessions."""
        if payer.cart_id is not None:
            total = await self.session.scalar(_CART_ATTEMPTS, {"cart_id": payer.cart_id})
        else:
            total = await self.session.scalar(
                select(func.coalesce(func.sum(Payment.attempt), 0)).where(_of(payer))
            )
        return int(total or 0)

    async def get_or_create(
        self,
        *,
        payer: Payer,
        payment_session_id: str | None,
        payment_collection_id: str | None,
        currency: str,
        amount_minor: int,
        medusa_amount: Decimal,
        capture_mode: str,
    ) -> Payment:
        """The payer's open payment row, locked; a new one when the payer has none (or only failed ones)."""
        if payment_session_id is not None:
            existing = await self.find_by_session(payment_session_id)
        else:
            existing = await self.find_latest_for(payer)
        if existing is None or existing.status == PaymentStatus.CANCELED:
            payment = Payment(
                cart_id=payer.cart_id,
                payment_session_id=payment_session_id,
                payment_collection_id=payment_collection_id,
                currency=currency,
                amount_minor=amount_minor,
                medusa_amount=medusa_amount,
                capture_mode=capture_mode,
                status=PaymentStatus.REQUIRES_MORE,
                attempt=0,
                authorized_minor=0,
                captured_minor=0,
                refunded_minor=0,
                final_capture_done=False,
            )
            self.session.add(payment)
            await self.session.flush()
            # Our transaction's own new row: no other can see it, let alone lock it, before we commit.
            return payment
        return await self.lock(existing.id)

    async def add_call(
        self,
        payment: Payment,
        operation: Operation,
        *,
        reference: str,
        amount_minor: int | None,
        medusa_amount: Decimal | None = None,
        parent_transaction_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> GatewayTransaction:
        call = GatewayTransaction(
            payment_id=payment.id,
            operation=operation,
            request_reference=reference,
            amount_minor=amount_minor,
            medusa_amount=medusa_amount,
            currency=payment.currency,
            parent_transaction_id=parent_transaction_id,
            outcome=CallOutcome.IN_FLIGHT,
            idempotency_key=idempotency_key,
        )
        self.session.add(call)
        await self.session.flush()
        return call

    async def get_call(self, call_id: int) -> GatewayTransaction:
        result = await self.session.execute(_CALL, {"call_id": call_id})
        return result.scalar_one()

    async def call_for_key(self, idempotency_key: str) -> GatewayTransaction | None:
        """The newest call made by the request that carried ``idempotency_key``."""
        result = await self.session.execute(
            select(GatewayTransaction)
            .where(GatewayTransaction.idempotency_key == idempotency_key)
            .order_by(GatewayTransaction.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def open_call(self, payment_id: int) -> GatewayTransaction | None:
        """The newest call whose outcome we do not know yet."""
        result = await self.session.execute(
            select(GatewayTransaction)
            .where(
                GatewayTransaction.payment_id == payment_id,
                GatewayTransaction.outcome.in_(OPEN_CALL_OUTCOMES),
            )
            .order_by(GatewayTransaction.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def refund_rounding_carry(self, payment: Payment) -> Decimal:
        """What the payment's approved refunds asked for (Medusa's exact amounts) minus what NetValve refunded
        for them: the rounding not yet given back, less than half a minor unit either way."""
        result = await self.session.execute(
            select(GatewayTransaction.medusa_amount, GatewayTransaction.amount_minor).where(
                GatewayTransaction.payment_id == payment.id,
                GatewayTransaction.operation == Operation.REFUND,
                GatewayTransaction.outcome == CallOutcome.APPROVED,
                GatewayTransaction.medusa_amount.is_not(None),
            )
        )
        return sum(
            (exact - from_minor(minor or 0, payment.currency) for exact, minor in result if exact),
            Decimal(0),
        )

    async def capture_transaction_id(self, payment_id: int) -> int | None:
        """NetValve's id of the payment's approved capture: what a refund of an authorization targets."""
        result = await self.session.execute(
            select(GatewayTransaction.netvalve_transaction_id)
            .where(
                GatewayTransaction.payment_id == payment_id,
                GatewayTransaction.operation == Operation.CAPTURE,
                GatewayTransaction.outcome == CallOutcome.APPROVED,
                GatewayTransaction.netvalve_transaction_id.is_not(None),
            )
            .order_by(GatewayTransaction.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def approved_transaction_ids(self, payment_id: int) -> set[int]:
        """NetValve ids of the calls the ledger has counted (open calls' ids are not: they still may be)."""
        result = await self.session.execute(
            select(GatewayTransaction.netvalve_transaction_id).where(
                GatewayTransaction.payment_id == payment_id,
                GatewayTransaction.outcome == CallOutcome.APPROVED,
                GatewayTransaction.netvalve_transaction_id.is_not(None),
            )
        )
        return {row for row in result.scalars() if row is not None}

    async def claim_for_reconcile(self, limit: int, min_age: timedelta) -> Sequence[Payment]:
        """Payments whose outcome is open, locked so that several replicas never settle the same one."""
        cutoff = datetime.now(UTC) - min_age
        result = await self.session.execute(
            select(Payment)
            .where(
                or_(
                    Payment.status.in_((PaymentStatus.PENDING, PaymentStatus.UNKNOWN)),
                    Payment.operation_in_flight.is_not(None),
                ),
                Payment.updated_at <= cutoff,
            )
            .order_by(Payment.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return result.scalars().all()

    async def add_audit(
        self,
        payment_id: int,
        *,
        action: str,
        actor: str,
        source_ip: str | None,
        reason: str,
        before: dict[str, Any],
    ) -> None:
        self.session.add(
            PaymentAudit(
                payment_id=payment_id,
                action=action,
                actor=actor,
                source_ip=source_ip,
                reason=reason,
                before=before,
            )
        )
        await self.session.flush()

    async def claim_storefront_lookup(self, payment_id: int, interval: timedelta) -> bool:
        """Whether a storefront's status read may ask NetValve about the payment now: the first read of each
        ``interval`` over every replica does. A row another transaction holds (a call or look-up settling
        it) is skipped, not waited for: the ledger answers meanwhile."""
        due = (
            select(Payment.id)
            .where(
                Payment.id == payment_id,
                or_(
                    Payment.storefront_lookup_at.is_(None),
                    Payment.storefront_lookup_at <= func.now() - interval,
                ),
            )
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = await self.session.execute(
            update(Payment)
            .where(Payment.id == due)
            # updated_at stays: reconciliation orders by it, and a read changes nothing of the payment.
            .values(storefront_lookup_at=func.now(), updated_at=Payment.updated_at)
            .returning(Payment.id)
        )
        return claimed.scalar_one_or_none() is not None
