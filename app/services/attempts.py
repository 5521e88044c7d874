"""A payment attempt in the ledger: recorded and committed before NetValve hears of it, whether the card
comes from the hosted fields (``/sale``, ``/authorize``) or the shopper pays on the Hosted Payment Page. A
3-D Secure authentication is an attempt too (a card tester spends one on each), and the sale it authenticates
is part of it."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from app.gateway import Outcome
from app.models import CallOutcome, GatewayTransaction, Operation, Payment, PaymentStatus, ThreeDSStage
from app.repositories.payments import PaymentRepository
from app.services import errors
from app.services.carts import Due
from app.services.context import ServiceContext
from app.services.ledger import CallRef, LockedPayment
from app.services.payment_state import is_allowed, is_already_done

# The reference of a Hosted Payment Page order ends so: its attempt waits on the shopper, not on a request.
HOSTED_SUFFIX = "-hpp"


def is_hosted(call: GatewayTransaction) -> bool:
    return call.request_reference.endswith(HOSTED_SUFFIX)


async def cart_payment(ctx: ServiceContext, repo: PaymentRepository, due: Due) -> Payment:
    """The payment row for what the cart (or collection) owes, locked (created when it has none to reuse)."""
    return await repo.get_or_create(
        payer=due.payer,
        payment_session_id=due.session_id,
        payment_collection_id=due.cart.payment_collection_id,
        currency=due.currency,
        amount_minor=due.amount_minor,
        medusa_amount=due.exact,
        capture_mode=ctx.settings.netvalve_capture_mode.value,
    )


async def open_attempt(
    ctx: ServiceContext,
    due: Due,
    operation: Operation,
    idempotency_key: str | None,
    *,
    hosted: bool = False,
    authenticated: bool = False,
    save_card: bool = False,
    saved_card_id: str | None = None,
) -> tuple[CallRef, str] | Payment:
    """Record the attempt and commit it; the payment itself when there is nothing to send. The sale of a
    3-D Secure authentication (``authenticated``) belongs to the attempt the authentication counted."""
    try:
        async with ctx.sessionmaker.begin() as db:
            repo = PaymentRepository(db)
            payment = await cart_payment(ctx, repo, due)
            if payment.operation_in_flight:
                raise errors.OperationInProgress()
            status = PaymentStatus(payment.status)
            if is_already_done(status, operation) or not is_allowed(status, operation):
                return payment
            if not (authenticated and payment.threeds_stage == ThreeDSStage.AUTHENTICATED):
                await count_attempt(ctx, repo, payment)
            payment.amount_minor = due.amount_minor
            payment.medusa_amount = due.exact
            payment.currency = due.currency
            payment.save_card = save_card
            payment.saved_card_id = saved_card_id
            suffix = HOSTED_SUFFIX if hosted else ""
            reference = f"{due.session_id or due.cart.id}-{payment.attempt}{suffix}"
            payment.client_order_id = reference
            ref = await LockedPayment(db, payment).open_call(
                operation, reference=reference, amount_minor=due.amount_minor, idempotency_key=idempotency_key
            )
    except IntegrityError:
        # The partial unique index on live payments per cart (or collection): another request won the race.
        raise errors.OperationInProgress() from None
    return ref, reference


async def count_attempt(ctx: ServiceContext, repo: PaymentRepository, payment: Payment) -> None:
    """One more attempt for the payment (a sale, authorization, hosted page order or 3-D Secure
    authentication), refused beyond the caps (``check_attempt_caps``)."""
    await check_attempt_caps(ctx, repo, payment)
    payment.attempt += 1


async def check_attempt_caps(ctx: ServiceContext, repo: PaymentRepository, payment: Payment) -> None:
    """A card tester pays, is declined and pays again: each session, and the cart (or collection) across the
    sessions a storefront may open at will, gets a bounded number of attempts."""
    settings = ctx.settings
    if payment.attempt >= settings.payment_attempts_per_session:
        raise errors.PaymentAttemptsExceeded("payment_session", settings.payment_attempts_per_session)
    payer = payment.payer
    if await repo.attempts_for(payer) >= settings.payment_attempts_per_cart:
        raise errors.PaymentAttemptsExceeded(payer.kind, settings.payment_attempts_per_cart)


async def release_unpaid_hosted(ctx: ServiceContext, payment: Payment) -> bool:
    """Close a hosted page attempt NetValve holds no payment for (the shopper cancelled or left), so that
    the cart can be paid again; False when the payment is anything else or NetValve does not answer. Should
    the page be paid after all, that late approval still reaches the ledger (``LockedPayment.settle``)."""
    if not (payment.client_order_id or "").endswith(HOSTED_SUFFIX):
        return False  # not a hosted page attempt: spare the read
    async with ctx.reads() as db:
        call = await PaymentRepository(db).open_call(payment.id)
    if call is None or not is_hosted(call):
        return False
    order = await ctx.gateway.get_order(call.request_reference)
    if not order.answered:
        return False
    details = order.details if order.ok else None
    if details is not None and details.approved_payment() is not None:
        return False
    if details is not None and any(t.outcome is Outcome.PENDING for t in details.transactions):
        return False
    declined = details is not None and details.all_declined()
    async with ctx.ledger.locked(payment.id) as locked:
        return locked.settle(
            await locked.call(call.id), CallOutcome.DECLINED if declined else CallOutcome.NOT_SENT
        )
