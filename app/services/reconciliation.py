"""Status reads, and settling what is open: a payment's open call, or a settled payment's follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core.security import Caller, CallerKind
from app.gateway import Outcome, TransactionSummary, TxnKind, worst_case_call_seconds
from app.models import CallOutcome, Payer, Payment, PaymentStatus
from app.repositories.payments import PaymentRepository
from app.schemas.netvalve import StatusResponse
from app.services import errors
from app.services.authorizations import near_expiry_cutoff
from app.services.context import ServiceContext
from app.services.ledger import PAYMENT_OPERATIONS
from app.services.lookups import Lookups
from app.services.threeds_stages import expire_abandoned
from app.services.views import OPEN_STATUSES, is_open, status_response

# Settled payments whose follow-ups (captures, refunds, cancels) a refresh looks up in NetValve.
FOLLOW_UP_STATUSES = frozenset(
    {PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED}
)


class Reconciliation:
    def __init__(self, ctx: ServiceContext) -> None:
        self.settings = settings = ctx.settings
        self.reads = ctx.reads
        self.carts = ctx.carts
        self.ledger = ctx.ledger
        self.gateway = ctx.gateway
        self.lookups = Lookups(ctx.ledger)
        # How long "not found" proves nothing: the longest a request can still be on its way, plus how long
        # NetValve's look-ups may lag behind its own writes.
        self.grace = timedelta(
            seconds=worst_case_call_seconds(settings) + settings.netvalve_lookup_lag_seconds
        )

    async def status(
        self,
        transaction_id: int | None,
        session_id: str | None,
        cart_id: str | None,
        *,
        refresh: bool,
        caller: Caller,
        payment_collection_id: str | None = None,
    ) -> StatusResponse:
        """The payment's status: looked up in NetValve while its outcome is open (or when ``refresh``),
        else, and whenever NetValve does not answer, from the ledger. A storefront caller sees only the
        payments of its sales channels' carts and orders, and its polling asks NetValve at most once per
        payment per ``STOREFRONT_STATUS_LOOKUP_INTERVAL_SECONDS``."""
        async with self.reads() as db:
            repo = PaymentRepository(db)
            payment = None
            if transaction_id is not None:
                payment = await repo.find_by_transaction(transaction_id)
            elif session_id is not None:
                payment = await repo.find_by_session(session_id)
            elif cart_id is not None or payment_collection_id is not None:
                payer = Payer(cart_id=cart_id, payment_collection_id=payment_collection_id)
                payment = await repo.find_live_for(payer) or await repo.find_latest_for(payer)
        if payment is None or not await self._callers(payment, caller):
            raise errors.PaymentNotFound()
        await self.carts.check_current(payment)
        near = near_expiry_cutoff(self.settings.authorization_near_expiry_days)
        if not (refresh or is_open(payment)):
            return status_response(payment, "ledger", near)
        if caller.kind is CallerKind.STOREFRONT and not await self._may_look_up(payment.id):
            return status_response(payment, "ledger", near)
        reached = await self.settle(payment.id, refresh=True)
        async with self.reads() as db:
            fresh = await db.get(Payment, payment.id)
            assert fresh is not None
            return status_response(fresh, "netvalve" if reached else "ledger", near)

    async def _callers(self, payment: Payment, caller: Caller) -> bool:
        """Whether the payment's cart (or collection's order) is of a sales channel the caller may use (as
        ``/payment`` decides)."""
        if caller.sales_channel_ids is None:
            return True
        return caller.may_use_sales_channel(await self.carts.sales_channel(payment))

    async def _may_look_up(self, payment_id: int) -> bool:
        seconds = self.settings.storefront_status_lookup_interval_seconds
        if not seconds:
            return True
        async with self.ledger.sessionmaker.begin() as db:
            return await PaymentRepository(db).claim_storefront_lookup(payment_id, timedelta(seconds=seconds))

    async def reconcile(self, limit: int) -> tuple[int, int, int]:
        """Settle open payments; safe on several replicas (claims skip locked rows)."""
        await expire_abandoned(self.ledger, limit)
        min_age = timedelta(seconds=self.settings.reconcile_min_age_seconds)
        async with self.ledger.sessionmaker() as db, db.begin():
            claimed = [p.id for p in await PaymentRepository(db).claim_for_reconcile(limit, min_age)]
        settled = 0
        for payment_id in claimed:
            await self.settle(payment_id, refresh=False)
            async with self.reads() as db:
                payment = await db.get(Payment, payment_id)
                if payment is not None and not is_open(payment):
                    settled += 1
        return len(claimed), settled, len(claimed) - settled

    async def settle(self, payment_id: int, *, refresh: bool) -> bool:
        """Ask NetValve what became of the payment's open call (or its current state) and record it.

        ``refresh`` is a read's or a webhook's look-up: it also fetches a settled payment's follow-ups, and
        leaves a call alone while its request may still be waiting on NetValve. Returns whether NetValve
        answered."""
        async with self.reads() as db:
            payment = await db.get(Payment, payment_id)
            assert payment is not None
            open_call = await PaymentRepository(db).open_call(payment_id)
            status, txn_id = PaymentStatus(payment.status), payment.netvalve_transaction_id
            reference = payment.client_order_id

        if open_call is not None:
            young = datetime.now(UTC) - open_call.created_at < self.grace
            if refresh and young and open_call.outcome == CallOutcome.IN_FLIGHT:
                # Its request will record NetValve's answer; a look-up now could only race it.
                return False
            if open_call.operation in PAYMENT_OPERATIONS:
                order = await self.gateway.get_order(open_call.request_reference)
                return await self.lookups.apply_order(payment_id, open_call.id, order, young)
            if open_call.parent_transaction_id is not None:
                details = await self.gateway.get_transaction(open_call.parent_transaction_id)
                return await self.lookups.apply_child(payment_id, open_call.id, details, young)
        if txn_id is not None and refresh and status in FOLLOW_UP_STATUSES:
            follow_ups = await self._follow_ups(txn_id)
            if follow_ups is None:
                return False
            return await self.lookups.apply_follow_ups(payment_id, follow_ups)
        if txn_id is not None and (refresh or status == PaymentStatus.PENDING):
            return await self.lookups.apply_inquiry(payment_id, await self.gateway.inquiry(txn_id))
        if reference is not None and status in OPEN_STATUSES:
            order = await self.gateway.get_order(reference)
            return await self.lookups.apply_order(payment_id, None, order, young=False)
        return False

    async def _follow_ups(self, txn_id: int) -> list[TransactionSummary] | None:
        """The transactions made on a payment: its own children, then the refunds of its captures
        (NetValve refunds the capture, not the authorization). None when NetValve did not answer."""
        root = await self.gateway.get_transaction(txn_id)
        if not root.ok or root.details is None:
            return None
        follow_ups = list(root.details.transactions)
        for child in root.details.transactions:
            if (
                child.kind is not TxnKind.CAPTURE
                or child.id_number is None
                or child.outcome is not Outcome.APPROVED
            ):
                continue
            capture = await self.gateway.get_transaction(child.id_number)
            if not capture.ok or capture.details is None:
                return None
            follow_ups.extend(capture.details.transactions)
        return follow_ups
