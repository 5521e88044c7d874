"""Business logic of the NetValve routes: the HPF waterfall, pay, capture, refund, cancel, status and
reconciliation. Money-moving operations record their intent and commit *before* calling NetValve, so
that a crash or a timeout leaves an ``unknown`` row for reconciliation instead of no trace at all."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from app.core.config import CaptureMode, Settings
from app.core.errors import AppError
from app.core.money import InvalidAmount as AmountError
from app.core.money import from_minor, to_minor
from app.gateway import (
    CancelRequest,
    CaptureOptions,
    CaptureRequest,
    GatewayResult,
    HppOrderRequest,
    MerchantNotConfigured,
    NetValveClient,
    Outcome,
    RefundRequest,
    SaleRequest,
    TransactionSummary,
    mid_fields,
    pick_active_script,
)
from app.models import CallOutcome, GatewayTransaction, Operation, Payment, PaymentStatus
from app.repositories.medusa import MedusaCart, MedusaReader
from app.repositories.payments import PaymentRepository
from app.schemas.netvalve import (
    DiagnosticStep,
    Flow,
    HpfDetails,
    HpfSessionResponse,
    HppDetails,
    MoneyOperationResponse,
    PayResponse,
    StatusResponse,
)
from app.services import errors
from app.services.payment_state import ON_APPROVED, is_allowed, is_already_done

logger = logging.getLogger(__name__)

DECLINES = frozenset({Outcome.SOFT_DECLINE, Outcome.HARD_DECLINE})
# Answers after which NetValve certainly did nothing: the previous state stands.
NOTHING_HAPPENED = frozenset(
    {Outcome.VALIDATION_ERROR, Outcome.AUTH_ERROR, Outcome.RATE_LIMITED, Outcome.NOT_FOUND}
)
# Look-up results that say nothing about the payment: keep what the ledger has.
NO_ANSWER = frozenset({Outcome.UNAVAILABLE, Outcome.UNKNOWN, Outcome.RATE_LIMITED, Outcome.AUTH_ERROR})
# Calls whose outcome is still to be learnt from NetValve.
OPEN_CALL_OUTCOMES = frozenset({CallOutcome.IN_FLIGHT, CallOutcome.UNKNOWN})
# Payments whose outcome NetValve has yet to tell us: a status read looks them up.
OPEN_STATUSES = frozenset({PaymentStatus.PENDING, PaymentStatus.UNKNOWN})
# Settled payments whose follow-ups (captures, refunds, cancels) a refresh looks up in NetValve.
FOLLOW_UP_STATUSES = frozenset({PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED, PaymentStatus.REFUNDED})
FOLLOW_UP_OPERATIONS = {"CAPTURE": Operation.CAPTURE, "REFUND": Operation.REFUND, "CANCEL": Operation.CANCEL}
HPF_TOKEN_LIFETIME = timedelta(minutes=5)
ORDER_DESC_MAX = 100


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ServiceResult:
    """A route's answer: the HTTP status the service decided (200, 202) and the body."""

    status_code: int
    body: Any


def _money(payment: Payment, minor: int) -> Decimal:
    return from_minor(minor, payment.currency)


def _derived_status(payment: Payment) -> PaymentStatus:
    """The status the amounts imply, used when an operation turned out not to have happened."""
    if payment.refunded_minor > 0:
        return PaymentStatus.REFUNDED
    if payment.captured_minor > 0:
        return PaymentStatus.CAPTURED
    if payment.authorized_minor > 0:
        return PaymentStatus.AUTHORIZED
    if payment.last_response_code and payment.attempt > 0:
        return PaymentStatus.ERROR
    return PaymentStatus.REQUIRES_MORE


def money_response(payment: Payment, **extra: Any) -> MoneyOperationResponse:
    return MoneyOperationResponse(
        status=PaymentStatus(payment.status),
        payment_session_id=payment.payment_session_id,
        cart_id=payment.cart_id,
        currency_code=payment.currency,
        amount=_money(payment, payment.amount_minor),
        authorized_amount=_money(payment, payment.authorized_minor),
        captured_amount=_money(payment, payment.captured_minor),
        refunded_amount=_money(payment, payment.refunded_minor),
        netvalve_transaction_id=payment.netvalve_transaction_id,
        **extra,
    )


def status_response(payment: Payment, source: str) -> StatusResponse:
    return StatusResponse(
        status=PaymentStatus(payment.status),
        source=source,
        cart_id=payment.cart_id,
        payment_session_id=payment.payment_session_id,
        currency_code=payment.currency,
        amount=_money(payment, payment.amount_minor),
        authorized_amount=_money(payment, payment.authorized_minor),
        captured_amount=_money(payment, payment.captured_minor),
        refunded_amount=_money(payment, payment.refunded_minor),
        netvalve_transaction_id=payment.netvalve_transaction_id,
        response_code=payment.last_response_code,
    )


def pay_response(payment: Payment) -> PayResponse:
    return PayResponse(
        cart_id=payment.cart_id,
        payment_session_id=payment.payment_session_id,
        status=PaymentStatus(payment.status),
        currency_code=payment.currency,
        amount=_money(payment, payment.amount_minor),
        netvalve_transaction_id=payment.netvalve_transaction_id,
        client_order_id=payment.client_order_id,
        response_code=payment.last_response_code,
        response_message=payment.last_response_message,
        card_masked=payment.card_masked,
        card_brand=payment.card_brand,
    )


class NetValveService:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        reads: async_sessionmaker[AsyncSession],
        medusa: MedusaReader,
        gateway: NetValveClient,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        # Look-ups that change nothing run without a transaction around them (autocommit).
        self.reads = reads
        # The longest a live request can wait on one NetValve call (mutating calls are never retried).
        self._in_flight_grace = timedelta(
            seconds=settings.netvalve_connect_timeout_seconds + settings.netvalve_read_timeout_seconds + 5
        )
        self.medusa = medusa
        self.gateway = gateway

    @classmethod
    def from_state(cls, state: State) -> NetValveService:
        """The service wired to what the application's lifespan opened."""
        medusa = MedusaReader(state.medusa_pool)
        return cls(state.settings, state.sessionmaker, state.autocommit, medusa, state.gateway)

    # --- Medusa -----------------------------------------------------------------------------------

    async def _cart(self, cart_id: str, payment_session_id: str | None) -> MedusaCart:
        cart = await self.medusa.get_cart(cart_id)
        if cart is None:
            raise errors.CartNotFound()
        if payment_session_id is not None and (
            cart.payment_session is None or cart.payment_session.id != payment_session_id
        ):
            raise errors.PaymentSessionNotFound()
        return cart

    def _routing(self, currency: str) -> dict[str, str | int]:
        try:
            return mid_fields(self.settings, currency)
        except MerchantNotConfigured as exc:
            raise errors.CurrencyNotConfigured(str(exc)) from None

    @staticmethod
    def _amount_due(cart: MedusaCart) -> Decimal:
        amount = cart.amount_due
        if amount is None:
            raise errors.PaymentCollectionMissing()
        return amount

    # --- HPF session waterfall --------------------------------------------------------------------

    async def create_hpf_session(self, cart_id: str, payment_session_id: str | None) -> HpfSessionResponse:
        """Run the waterfall of design.md section 3; the first step that works wins."""
        cart = await self._cart(cart_id, payment_session_id)
        if cart.is_completed:
            raise errors.CartCompleted()
        amount = self._amount_due(cart)
        routing = self._routing(cart.currency_code)
        session_id = cart.payment_session.id if cart.payment_session else None
        diagnostic: list[DiagnosticStep] = []
        settings = self.settings

        def answer(
            flow: Flow, *, hpf: HpfDetails | None = None, hpp: HppDetails | None = None
        ) -> HpfSessionResponse:
            patch: dict[str, Any] = {"provider": "netvalve", "flow": flow.value, "cart_id": cart.id}
            if hpf is not None:
                patch |= {"hpf_script_src": hpf.script_src, "hpf_payment_token": hpf.payment_token}
            if hpp is not None:
                patch |= {"hpp_redirect_url": hpp.redirect_url}
            return HpfSessionResponse(
                cart_id=cart.id,
                payment_session_id=session_id,
                environment=settings.netvalve_environment.value,
                flow=flow,
                currency_code=cart.currency_code,
                amount=amount,
                hpf=hpf,
                hpp=hpp,
                payment_session_patch=patch,
                diagnostic=diagnostic,
            )

        if settings.netvalve_hpp_direct_url:
            return answer(Flow.HPP, hpp=HppDetails(redirect_url=settings.netvalve_hpp_direct_url))
        diagnostic.append(DiagnosticStep(step="hpp_direct_url", outcome="not_configured"))

        if settings.netvalve_hpf_script_src:
            return answer(
                Flow.HPF,
                hpf=HpfDetails(
                    script_src=settings.netvalve_hpf_script_src,
                    integrity=settings.netvalve_hpf_script_integrity,
                ),
            )
        diagnostic.append(DiagnosticStep(step="hpf_script_src", outcome="not_configured"))

        session = await self.gateway.initialize_hpf_session()
        if session.ok and session.details is not None:
            hpf = session.details
            async with self.sessionmaker.begin() as db:
                await PaymentRepository(db).record_token(
                    token_digest(hpf.payment_token),
                    cart.id,
                    session_id,
                    datetime.now(UTC) + HPF_TOKEN_LIFETIME,
                )
            return answer(
                Flow.HPF,
                hpf=HpfDetails(
                    script_src=hpf.netvalve_script_src,
                    integrity=hpf.integrity,
                    version=hpf.version,
                    payment_token=hpf.payment_token,
                    jwt_token=hpf.jwt_token,
                    trace_id=hpf.trace_id,
                ),
            )
        diagnostic.append(_step("initialize_session", session))

        if settings.netvalve_basic_auth_username and settings.netvalve_basic_auth_password:
            scripts = await self.gateway.backoffice_hpf_scripts()
            chosen = pick_active_script(scripts.details or []) if scripts.ok else None
            if chosen is not None:
                return answer(
                    Flow.HPF,
                    hpf=HpfDetails(
                        script_src=chosen.netvalve_script_src,
                        integrity=chosen.integrity,
                        version=chosen.client_version,
                    ),
                )
            diagnostic.append(
                _step("backoffice_script", scripts)
                if not scripts.ok
                else DiagnosticStep(step="backoffice_script", outcome="no_active_script")
            )
        else:
            diagnostic.append(DiagnosticStep(step="backoffice_script", outcome="not_configured"))

        hpp_urls = {
            name: settings.hpp_return_url(name) for name in ("success", "cancel", "failed", "pending")
        }
        if (
            settings.netvalve_hpp_fallback_enabled
            and hpp_urls["success"]
            and hpp_urls["cancel"]
            and hpp_urls["failed"]
        ):
            order = await self.gateway.create_hpp_order(
                HppOrderRequest(
                    amount=amount,
                    currency=cart.currency_code,
                    mode=settings.netvalve_hpp_mode,
                    client_order_id=f"{session_id or cart.id}-hpp",
                    order_desc=f"Cart {cart.id}",
                    success_url=hpp_urls["success"],
                    cancel_url=hpp_urls["cancel"],
                    failed_url=hpp_urls["failed"],
                    pending_url=hpp_urls["pending"],
                    **_routing_kwargs(routing),
                )
            )
            if order.ok and order.response is not None and order.response.redirect_url:
                return answer(
                    Flow.HPP,
                    hpp=HppDetails(
                        redirect_url=order.response.redirect_url,
                        order_id=_int_or_none(order.response.order_id),
                        transaction_id=order.response.transaction_id,
                    ),
                )
            diagnostic.append(_step("hpp_order", order))
        else:
            reason = (
                "disabled" if not settings.netvalve_hpp_fallback_enabled else "return_urls_not_configured"
            )
            diagnostic.append(DiagnosticStep(step="hpp_order", outcome=reason))

        fallback = settings.hpf_fallback_script_src
        if fallback:
            diagnostic.append(DiagnosticStep(step="fallback_script", outcome="used"))
            return answer(Flow.HPF, hpf=HpfDetails(script_src=fallback))
        diagnostic.append(DiagnosticStep(step="fallback_script", outcome="not_configured"))
        raise errors.HpfSessionUnavailable(details=[step.model_dump() for step in diagnostic])

    # --- Pay --------------------------------------------------------------------------------------

    async def pay(
        self,
        cart_id: str,
        payment_session_id: str | None,
        payment_token: str | None,
        customer_ip: str | None,
    ) -> ServiceResult:
        """Charge (or authorize) a cart for the amount Medusa holds; never twice."""
        cart = await self._cart(cart_id, payment_session_id)
        async with self.reads() as db:
            existing = await PaymentRepository(db).find_live_for_cart(cart.id)
        if existing is not None:
            return ServiceResult(_pay_status_code(existing), pay_response(existing))
        if cart.is_completed:
            raise errors.CartCompleted()
        amount = self._amount_due(cart)
        currency = cart.currency_code
        try:
            amount_minor = to_minor(amount, currency)
        except AmountError as exc:
            raise errors.InvalidAmount(str(exc)) from None
        routing = self._routing(currency)
        session_id = cart.payment_session.id if cart.payment_session else None
        operation = (
            Operation.AUTHORIZE
            if self.settings.netvalve_capture_mode is CaptureMode.AUTHORIZE
            else Operation.SALE
        )

        if payment_token is None:
            return ServiceResult(
                200,
                PayResponse(
                    cart_id=cart.id,
                    payment_session_id=session_id,
                    status=PaymentStatus.REQUIRES_MORE,
                    currency_code=currency,
                    amount=amount,
                ),
            )
        async with self.reads() as db:
            token_cart = await PaymentRepository(db).token_cart(token_digest(payment_token))
        if token_cart is not None and token_cart != cart.id:
            raise errors.PaymentTokenCartMismatch()

        try:
            async with self.sessionmaker.begin() as db:
                repo = PaymentRepository(db)
                payment = await repo.get_or_create(
                    cart_id=cart.id,
                    payment_session_id=session_id,
                    payment_collection_id=cart.payment_collection_id,
                    currency=currency,
                    amount_minor=amount_minor,
                    capture_mode=self.settings.netvalve_capture_mode.value,
                )
                if payment.operation_in_flight:
                    raise errors.OperationInProgress()
                if is_already_done(PaymentStatus(payment.status), operation) or not is_allowed(
                    PaymentStatus(payment.status), operation
                ):
                    return ServiceResult(_pay_status_code(payment), pay_response(payment))
                previous = PaymentStatus(payment.status)
                payment.attempt += 1
                payment.amount_minor = amount_minor
                payment.currency = currency
                reference = f"{session_id or cart.id}-{payment.attempt}"
                payment.client_order_id = reference
                payment.status = PaymentStatus.PENDING
                payment.operation_in_flight = operation
                call = await repo.add_call(payment, operation, reference=reference, amount_minor=amount_minor)
                payment_id, call_id = payment.id, call.id
        except IntegrityError:
            # The partial unique index on live payments per cart: another request won the race.
            raise errors.OperationInProgress() from None

        request = SaleRequest(
            amount=amount,
            currency=currency,
            payment_type="CARD",
            payment_token=payment_token,
            client_order_id=reference,
            order_desc=f"Cart {cart.id}"[:ORDER_DESC_MAX],
            customer_ip=customer_ip,
            **_routing_kwargs(routing),
            **_customer_fields(cart),
        )
        send = self.gateway.authorize if operation is Operation.AUTHORIZE else self.gateway.sale
        result = await send(request)

        async with self.sessionmaker.begin() as db:
            repo = PaymentRepository(db)
            payment = await repo.lock(payment_id)
            call = await repo.get_call(call_id)
            if call.outcome != CallOutcome.IN_FLIGHT:
                # A look-up settled this call while we waited (we were slow): what it recorded stands.
                return ServiceResult(_pay_status_code(payment), pay_response(payment))
            _record(call, result)
            payment.operation_in_flight = None
            payment.last_response_code = result.code
            payment.last_response_message = result.message
            if result.response is not None:
                payment.card_masked = result.response.card_number or payment.card_masked
                payment.card_brand = result.response.card_type or payment.card_brand
            outcome = result.outcome
            if outcome is Outcome.APPROVED:
                payment.netvalve_transaction_id = result.transaction_id
                payment.authorized_minor = amount_minor
                if operation is Operation.SALE:
                    payment.captured_minor = amount_minor
                payment.status = ON_APPROVED[operation]
            elif outcome is Outcome.PENDING:
                payment.netvalve_transaction_id = result.transaction_id
                payment.status = PaymentStatus.PENDING
            elif outcome in DECLINES:
                payment.netvalve_transaction_id = result.transaction_id
                payment.status = PaymentStatus.ERROR
            elif not result.request_sent or outcome in NOTHING_HAPPENED:
                payment.status = previous
            else:
                # Timeout, 5xx, amount mismatch, duplicate order: NetValve may hold a charge.
                payment.status = PaymentStatus.UNKNOWN
                logger.warning(
                    "payment outcome unknown",
                    extra={"payment_id": payment_id, "outcome": outcome.value, "client_order_id": reference},
                )
            response = pay_response(payment)
            final_status = PaymentStatus(payment.status)

        if outcome in DECLINES:
            raise errors.CardDeclined(
                result.message or "The card was declined.",
                details={"response_code": result.code, "response_message": result.message},
            )
        if outcome is Outcome.VALIDATION_ERROR and "paymenttoken" in (result.message or "").lower():
            # The token is the one field of the request the storefront supplies: its fault, not ours.
            raise errors.InvalidPaymentToken(details={"response_code": result.code})
        _raise_if_nothing_happened(result)
        return ServiceResult(
            202 if final_status in (PaymentStatus.PENDING, PaymentStatus.UNKNOWN) else 200, response
        )

    # --- Capture / refund / cancel ----------------------------------------------------------------

    async def _find_payment(
        self, db: AsyncSession, transaction_id: int | None, session_id: str | None
    ) -> Payment:
        repo = PaymentRepository(db)
        payment = None
        if transaction_id is not None:
            payment = await repo.find_by_transaction(transaction_id)
        elif session_id is not None:
            payment = await repo.find_by_session(session_id)
        if payment is None:
            raise errors.PaymentNotFound()
        return await repo.lock(payment.id)

    def _bounded_minor(
        self,
        payment: Payment,
        amount: Decimal | None,
        remaining: int,
        error: type[AppError],
        room: str,
    ) -> int:
        """The requested amount (all that remains by default) in minor units, refused beyond ``remaining``."""
        minor = self._minor(payment, amount, remaining)
        if minor <= 0 or minor > remaining:
            raise error(
                details={"requested": str(_money(payment, minor)), room: str(_money(payment, remaining))}
            )
        return minor

    def _minor(self, payment: Payment, amount: Decimal | None, default: int) -> int:
        if amount is None:
            return default
        try:
            return to_minor(amount, payment.currency)
        except AmountError as exc:
            raise errors.InvalidAmount(str(exc)) from None

    async def capture(
        self, transaction_id: int | None, session_id: str | None, amount: Decimal | None
    ) -> ServiceResult:
        """Full capture by default; a smaller amount is a partial, final capture (the rest is released)."""

        def plan(payment: Payment, target: int | None) -> tuple[int, Any]:
            remaining = payment.authorized_minor - payment.captured_minor
            minor = self._bounded_minor(
                payment, amount, remaining, errors.CaptureExceedsAuthorized, "capturable"
            )
            options = CaptureOptions(final_capture=True) if minor < remaining else None
            request = CaptureRequest(
                transaction_id=target,
                amount=_money(payment, minor),
                capture_options=options,
            )
            return minor, request

        def apply(payment: Payment, minor: int, result: GatewayResult[Any]) -> None:
            _add_approved(payment, Operation.CAPTURE, minor)

        return await self._money_operation(
            Operation.CAPTURE,
            transaction_id,
            session_id,
            plan,
            self.gateway.capture,
            apply,
            already=Outcome.ALREADY_CAPTURED,
        )

    async def refund(
        self, transaction_id: int | None, session_id: str | None, amount: Decimal | None
    ) -> ServiceResult:
        """Full refund of what remains by default; never more than captured minus refunded."""

        def plan(payment: Payment, target: int | None) -> tuple[int, Any]:
            remaining = payment.captured_minor - payment.refunded_minor
            minor = self._bounded_minor(
                payment, amount, remaining, errors.RefundExceedsCaptured, "refundable"
            )
            return minor, RefundRequest(transaction_id=target, amount=_money(payment, minor))

        def apply(payment: Payment, minor: int, result: GatewayResult[Any]) -> None:
            if result.outcome is Outcome.ALREADY_REFUNDED:
                payment.refunded_minor = payment.captured_minor
                payment.status = PaymentStatus.REFUNDED
            else:
                _add_approved(payment, Operation.REFUND, minor)

        return await self._money_operation(
            Operation.REFUND,
            transaction_id,
            session_id,
            plan,
            self.gateway.refund,
            apply,
            already=Outcome.ALREADY_REFUNDED,
        )

    async def cancel(self, transaction_id: int | None, session_id: str | None) -> ServiceResult:
        """Void an uncaptured authorization."""

        def plan(payment: Payment, target: int | None) -> tuple[int, Any]:
            return 0, CancelRequest(transaction_id=target)

        def apply(payment: Payment, minor: int, result: GatewayResult[Any]) -> None:
            _add_approved(payment, Operation.CANCEL, minor)

        return await self._money_operation(
            Operation.CANCEL,
            transaction_id,
            session_id,
            plan,
            self.gateway.cancel,
            apply,
            already=Outcome.ALREADY_CANCELLED,
        )

    async def _money_operation(
        self,
        operation: Operation,
        transaction_id: int | None,
        session_id: str | None,
        plan: Callable[[Payment, int | None], tuple[int, Any]],
        send: Callable[[Any], Awaitable[GatewayResult[Any]]],
        apply: Callable[[Payment, int, GatewayResult[Any]], None],
        *,
        already: Outcome,
    ) -> ServiceResult:
        async with self.sessionmaker.begin() as db:
            payment = await self._find_payment(db, transaction_id, session_id)
            status = PaymentStatus(payment.status)
            if payment.operation_in_flight:
                raise errors.OperationInProgress()
            if is_already_done(status, operation):
                return ServiceResult(200, money_response(payment, already_done=True))
            if not is_allowed(status, operation):
                if operation is Operation.CANCEL and status in (
                    PaymentStatus.CAPTURED,
                    PaymentStatus.REFUNDED,
                ):
                    raise errors.PaymentCapturedUseRefund()
                if operation is Operation.CAPTURE and payment.final_capture_done:
                    return ServiceResult(200, money_response(payment, already_done=True))
                raise errors.InvalidTransition(
                    f"A payment in status '{status.value}' cannot be {operation.value}d.",
                    details={"status": status.value, "operation": operation.value},
                )
            repo = PaymentRepository(db)
            target = payment.netvalve_transaction_id
            if operation is Operation.REFUND:
                # NetValve refunds the sale or, after authorize-capture, the capture.
                target = await repo.capture_transaction_id(payment.id) or target
            minor, request = plan(payment, target)
            call = await repo.add_call(
                payment,
                operation,
                reference=f"{payment.client_order_id}-{operation.value}",
                amount_minor=minor or None,
                parent_transaction_id=target,
            )
            payment.operation_in_flight = operation
            payment_id, call_id = payment.id, call.id

        result = await send(request)

        async with self.sessionmaker.begin() as db:
            repo = PaymentRepository(db)
            payment = await repo.lock(payment_id)
            call = await repo.get_call(call_id)
            if call.outcome != CallOutcome.IN_FLIGHT:
                # A look-up settled this call while we waited (we were slow): what it recorded stands.
                return ServiceResult(_pay_status_code(payment), money_response(payment))
            _record(call, result)
            payment.operation_in_flight = None
            payment.last_response_code = result.code
            outcome = result.outcome
            if outcome is Outcome.APPROVED or outcome is already:
                apply(payment, minor, result)
            elif result.is_uncertain or outcome in (Outcome.UNKNOWN, Outcome.MISMATCH):
                payment.status = PaymentStatus.UNKNOWN
            response = money_response(
                payment,
                operation_transaction_id=result.transaction_id,
                response_code=result.code,
                already_done=outcome is already,
            )
            final_status = PaymentStatus(payment.status)

        if outcome is Outcome.APPROVED or outcome is already:
            return ServiceResult(200, response)
        if final_status is PaymentStatus.UNKNOWN:
            return ServiceResult(202, response)
        if result.code == "GTW_2124":
            raise errors.CaptureExceedsAuthorized(result.message)
        if result.code == "GTW_2108":
            raise errors.RefundExceedsCaptured(result.message)
        if outcome in DECLINES:
            raise errors.OperationDeclined(result.message, details={"response_code": result.code})
        _raise_if_nothing_happened(result)
        raise errors.GatewayRejected(result.message, details={"response_code": result.code})

    # --- Status and reconciliation ----------------------------------------------------------------

    async def status(
        self, transaction_id: int | None, session_id: str | None, cart_id: str | None, *, refresh: bool
    ) -> StatusResponse:
        """The payment's status: looked up in NetValve while its outcome is open (or when ``refresh``),
        else, and whenever NetValve does not answer, from the ledger."""
        async with self.reads() as db:
            repo = PaymentRepository(db)
            payment = None
            if transaction_id is not None:
                payment = await repo.find_by_transaction(transaction_id)
            elif session_id is not None:
                payment = await repo.find_by_session(session_id)
            elif cart_id is not None:
                payment = await repo.find_live_for_cart(cart_id) or await repo.find_latest_for_cart(cart_id)
        if payment is None:
            raise errors.PaymentNotFound()
        is_open = payment.status in OPEN_STATUSES or payment.operation_in_flight is not None
        if not (refresh or is_open):
            return status_response(payment, "ledger")
        reached = await self.settle(payment.id, refresh=True)
        async with self.reads() as db:
            fresh = await db.get(Payment, payment.id)
            assert fresh is not None
            return status_response(fresh, "netvalve" if reached else "ledger")

    async def reconcile(self, limit: int) -> tuple[int, int, int]:
        """Settle pending and unknown payments; safe on several replicas (claims skip locked rows)."""
        min_age = timedelta(seconds=self.settings.reconcile_min_age_seconds)
        async with self.sessionmaker() as db, db.begin():
            claimed = [p.id for p in await PaymentRepository(db).claim_for_reconcile(limit, min_age)]
        settled = 0
        for payment_id in claimed:
            await self.settle(payment_id, refresh=False)
            async with self.reads() as db:
                payment = await db.get(Payment, payment_id)
                if payment is not None and payment.status not in (
                    PaymentStatus.PENDING,
                    PaymentStatus.UNKNOWN,
                ):
                    settled += 1
        return len(claimed), settled, len(claimed) - settled

    async def settle(self, payment_id: int, *, refresh: bool) -> bool:
        """Ask NetValve what became of the payment's open call (or its current state) and record it.

        ``refresh`` is a read's or a webhook's look-up: it also fetches a settled payment's follow-ups, and
        leaves a call alone while its request may still be waiting on NetValve. Returns whether NetValve
        answered."""
        async with self.reads() as db:
            repo = PaymentRepository(db)
            payment = await db.get(Payment, payment_id)
            assert payment is not None
            open_call = await repo.open_call(payment_id)
            known = await repo.known_transaction_ids(payment_id)
            snapshot = (payment.status, payment.netvalve_transaction_id, payment.client_order_id)
        status, txn_id, reference = snapshot

        if refresh and open_call is not None and open_call.outcome == CallOutcome.IN_FLIGHT:
            waiting = datetime.now(UTC) - open_call.created_at
            if waiting < self._in_flight_grace:
                # Its request may still get NetValve's answer and record it; a look-up now could read
                # "not there yet" as "never sent". (Reconciliation waits RECONCILE_MIN_AGE_SECONDS.)
                return False
        if open_call is not None and open_call.operation in (Operation.SALE, Operation.AUTHORIZE):
            order = await self.gateway.get_order(open_call.request_reference)
            return await self._apply_order_lookup(payment_id, open_call.id, order)
        if open_call is not None and open_call.parent_transaction_id is not None:
            details = await self.gateway.get_transaction(open_call.parent_transaction_id)
            return await self._apply_child_lookup(payment_id, open_call.id, details, known)
        if txn_id is not None and refresh and status in FOLLOW_UP_STATUSES:
            follow_ups = await self._follow_ups(txn_id)
            if follow_ups is None:
                return False
            return await self._apply_follow_ups(payment_id, follow_ups, known)
        if txn_id is not None and (refresh or status == PaymentStatus.PENDING):
            inquiry = await self.gateway.inquiry(txn_id)
            return await self._apply_inquiry(payment_id, inquiry)
        if reference is not None and status in (PaymentStatus.PENDING, PaymentStatus.UNKNOWN):
            order = await self.gateway.get_order(reference)
            return await self._apply_order_lookup(payment_id, None, order)
        return False

    async def _apply_order_lookup(
        self, payment_id: int, call_id: int | None, order: GatewayResult[Any]
    ) -> bool:
        if not _answered(order):
            return False
        async with self.sessionmaker.begin() as db:
            repo = PaymentRepository(db)
            payment = await repo.lock(payment_id)
            call = await repo.get_call(call_id) if call_id is not None else None
            if call is not None and call.outcome not in OPEN_CALL_OUTCOMES:
                return True  # settled meanwhile by the request itself or another look-up
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
                txn = approved.transaction_id
                payment.netvalve_transaction_id = (
                    int(txn) if txn is not None else payment.netvalve_transaction_id
                )
                payment.authorized_minor = payment.amount_minor
                if (approved.transaction_type or "").upper() == "SALE":
                    payment.captured_minor = payment.amount_minor
                    payment.status = PaymentStatus.CAPTURED
                else:
                    payment.status = PaymentStatus.AUTHORIZED
                if call is not None:
                    call.outcome = CallOutcome.APPROVED
                    call.netvalve_transaction_id = payment.netvalve_transaction_id
                    call.completed_at = datetime.now(UTC)
            elif order.outcome is Outcome.NOT_FOUND or (details is not None and not details.transactions):
                # NetValve never saw the request: nothing was charged, a new attempt is safe.
                payment.status = PaymentStatus.REQUIRES_MORE if payment.attempt <= 1 else PaymentStatus.ERROR
                if call is not None:
                    call.outcome = CallOutcome.NOT_SENT
                    call.completed_at = datetime.now(UTC)
            elif details is not None and all(t.outcome in DECLINES for t in details.transactions):
                payment.status = PaymentStatus.ERROR
                if call is not None:
                    call.outcome = CallOutcome.DECLINED
                    call.completed_at = datetime.now(UTC)
            payment.operation_in_flight = None
        return True

    async def _apply_child_lookup(
        self, payment_id: int, call_id: int, details: GatewayResult[Any], known: set[int]
    ) -> bool:
        if not details.ok or details.details is None:
            return False
        async with self.sessionmaker.begin() as db:
            repo = PaymentRepository(db)
            payment = await repo.lock(payment_id)
            call = await repo.get_call(call_id)
            if call.outcome not in OPEN_CALL_OUTCOMES:
                return True  # settled meanwhile by the request itself or another look-up
            wanted = {"capture": "CAPTURE", "refund": "REFUND", "cancel": "CANCEL"}[call.operation]
            match = None
            for child in details.details.transactions:
                child_id = _int_or_none(child.transaction_id)
                if (
                    (child.transaction_type or "").upper() == wanted
                    and child_id is not None
                    and child_id not in known
                    and child.outcome is Outcome.APPROVED
                ):
                    match = child
                    break
            call.completed_at = datetime.now(UTC)
            payment.operation_in_flight = None
            if match is None:
                call.outcome = CallOutcome.NOT_SENT
                payment.status = _derived_status(payment)
                return True
            call.outcome = CallOutcome.APPROVED
            call.netvalve_transaction_id = _int_or_none(match.transaction_id)
            _add_approved(payment, Operation(call.operation), call.amount_minor or 0)
        return True

    async def _follow_ups(self, txn_id: int) -> list[TransactionSummary] | None:
        """The transactions made on a payment: its own children, then the refunds of its captures
        (NetValve refunds the capture, not the authorization). None when NetValve did not answer."""
        root = await self.gateway.get_transaction(txn_id)
        if not root.ok or root.details is None:
            return None
        follow_ups = list(root.details.transactions)
        for child in root.details.transactions:
            child_id = _int_or_none(child.transaction_id)
            if (child.transaction_type or "").upper() != "CAPTURE" or child_id is None:
                continue
            if child.outcome is not Outcome.APPROVED:
                continue
            capture = await self.gateway.get_transaction(child_id)
            if not capture.ok or capture.details is None:
                return None
            follow_ups.extend(capture.details.transactions)
        return follow_ups

    async def _apply_follow_ups(
        self, payment_id: int, follow_ups: list[TransactionSummary], known: set[int]
    ) -> bool:
        """Record approved captures, refunds and cancels NetValve holds that the ledger has not seen,
        e.g. made in NetValve's back office; forward moves only, amounts from NetValve."""
        async with self.sessionmaker.begin() as db:
            repo = PaymentRepository(db)
            payment = await repo.lock(payment_id)
            for child in follow_ups:
                child_id = _int_or_none(child.transaction_id)
                operation = FOLLOW_UP_OPERATIONS.get((child.transaction_type or "").upper())
                if (
                    operation is None
                    or child_id is None
                    or child_id in known
                    or child.outcome is not Outcome.APPROVED
                ):
                    continue
                minor = self._follow_up_minor(payment, operation, child.amount)
                if minor is None:
                    continue
                call = await repo.add_call(
                    payment,
                    operation,
                    reference=f"netvalve-{child_id}",
                    amount_minor=minor or None,
                    parent_transaction_id=payment.netvalve_transaction_id,
                )
                call.outcome = CallOutcome.APPROVED
                call.netvalve_transaction_id = child_id
                call.response_code = child.response_code
                call.completed_at = datetime.now(UTC)
                known.add(child_id)
                _add_approved(payment, operation, minor)
                logger.info(
                    "recorded a %s made outside this service",
                    operation.value,
                    extra={"payment_id": payment_id, "netvalve_transaction_id": child_id},
                )
        return True

    @staticmethod
    def _follow_up_minor(payment: Payment, operation: Operation, amount: Decimal | None) -> int | None:
        """The minor amount of a follow-up NetValve reports, or None when it cannot apply to the ledger."""
        status = PaymentStatus(payment.status)
        if operation is Operation.CAPTURE:
            room = payment.authorized_minor - payment.captured_minor
            allowed = status is PaymentStatus.AUTHORIZED
        elif operation is Operation.REFUND:
            room = payment.captured_minor - payment.refunded_minor
            allowed = status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED)
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

    async def _apply_inquiry(self, payment_id: int, inquiry: GatewayResult[Any]) -> bool:
        if not _answered(inquiry):
            return False
        async with self.sessionmaker.begin() as db:
            payment = await PaymentRepository(db).lock(payment_id)
            if payment.status == PaymentStatus.PENDING:
                if inquiry.outcome is Outcome.APPROVED:
                    payment.authorized_minor = payment.amount_minor
                    txn_type = (inquiry.response.transaction_type if inquiry.response else None) or ""
                    if txn_type.upper() == "SALE" or payment.capture_mode == CaptureMode.SALE:
                        payment.captured_minor = payment.amount_minor
                        payment.status = PaymentStatus.CAPTURED
                    else:
                        payment.status = PaymentStatus.AUTHORIZED
                elif inquiry.outcome in DECLINES:
                    payment.status = PaymentStatus.ERROR
                payment.last_response_code = inquiry.code
        return True


def _add_approved(payment: Payment, operation: Operation, minor: int) -> None:
    """Move the ledger by an approved capture, refund or cancel of ``minor``."""
    if operation is Operation.CAPTURE:
        payment.captured_minor += minor
        payment.final_capture_done = True
    elif operation is Operation.REFUND:
        payment.refunded_minor += minor
    payment.status = ON_APPROVED[operation]


def _record(call: GatewayTransaction, result: GatewayResult[Any]) -> None:
    outcome = result.outcome
    if outcome is Outcome.APPROVED:
        call.outcome = CallOutcome.APPROVED
    elif outcome is Outcome.PENDING:
        call.outcome = CallOutcome.PENDING
    elif outcome in DECLINES:
        call.outcome = CallOutcome.DECLINED
    elif not result.request_sent:
        call.outcome = CallOutcome.NOT_SENT
    elif outcome in NOTHING_HAPPENED or outcome in (
        Outcome.ALREADY_CAPTURED,
        Outcome.ALREADY_REFUNDED,
        Outcome.ALREADY_CANCELLED,
    ):
        call.outcome = CallOutcome.REJECTED
    else:
        call.outcome = CallOutcome.UNKNOWN
    call.netvalve_transaction_id = result.transaction_id
    call.http_status = result.http_status
    call.response_code = result.code
    call.response_message = result.message
    if call.outcome != CallOutcome.UNKNOWN:
        call.completed_at = datetime.now(UTC)


def _answered(lookup: GatewayResult[Any]) -> bool:
    """Whether a read-only look-up got an answer from NetValve that can settle anything."""
    return lookup.request_sent and lookup.outcome not in NO_ANSWER


def _raise_if_nothing_happened(result: GatewayResult[Any]) -> None:
    if not result.request_sent or result.outcome is Outcome.RATE_LIMITED:
        headers = {"Retry-After": str(int(result.retry_after))} if result.retry_after else None
        raise errors.GatewayUnavailable(headers=headers)
    if result.outcome in NOTHING_HAPPENED:
        raise errors.GatewayRejected(result.message, details={"response_code": result.code})


def _pay_status_code(payment: Payment) -> int:
    return 202 if payment.status in (PaymentStatus.PENDING, PaymentStatus.UNKNOWN) else 200


def _step(name: str, result: GatewayResult[Any]) -> DiagnosticStep:
    return DiagnosticStep(step=name, outcome=result.outcome.value, detail=result.code or result.message)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _routing_kwargs(routing: dict[str, str | int]) -> dict[str, Any]:
    names = {"netvalveMidId": "netvalve_mid_id", "midId": "mid_id", "siteId": "site_id"}
    return {names[key]: value for key, value in routing.items()}


def _customer_fields(cart: MedusaCart) -> dict[str, Any]:
    address = cart.billing_address or cart.shipping_address
    first = (address.first_name if address else None) or cart.customer_first_name
    last = (address.last_name if address else None) or cart.customer_last_name
    fields: dict[str, Any] = {
        "customer_email": cart.email,
        "customer_first_name": first,
        "customer_last_name": last,
        "customer_name": " ".join(part for part in (first, last) if part) or None,
    }
    if address is not None:
        fields |= {
            "customer_address": " ".join(p for p in (address.address_1, address.address_2) if p) or None,
            "customer_city": address.city,
            "customer_state": (address.province or None) and address.province[:30],
            "customer_zip_code": (address.postal_code or None) and address.postal_code[:10],
            "customer_country_code": address.country_code,
            "customer_phone": (address.phone or cart.customer_phone or None),
        }
    elif cart.customer_phone:
        fields["customer_phone"] = cart.customer_phone
    return {k: v for k, v in fields.items() if v}
