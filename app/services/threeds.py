"""3-D Secure v2 before the sale (``NETVALVE_THREEDS=on``).

Each stage is recorded on the payment under its row lock before the storefront hears of it
(``payment_state.THREEDS_NEXT``): ``initializing`` is committed before ``/3ds/v2/initialization`` is sent,
then ``device_data`` or ``challenge`` while the shopper's browser works, ``authenticated`` once NetValve gave
``eci``/``cavv`` (the sale then goes through the ledger's call protocol like any other), or ``failed``.
No 3DS call moves money: one left unanswered changes nothing but its own stage, and the storefront may
simply ask again. An authentication left waiting past NetValve's window is failed by the next request for
the cart, or by the reconciliation pass, and the cart is payable again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError

from app.core.security import Caller
from app.gateway import (
    Browser,
    CardOnFile,
    GatewayResult,
    Refusal,
    Sale,
    ThreeDSAuthRequest,
    ThreeDSInitRequest,
    ThreeDSKind,
    ThreeDSProviderResponse,
    ThreeDSStep,
    UnsendableRequest,
    requests,
    threeds_step,
    worst_case_call_seconds,
)
from app.models import Payment, PaymentStatus, ThreeDSStage
from app.repositories.payments import PaymentRepository
from app.schemas.payment import BrowserInfo, PayResponse
from app.services import errors
from app.services.attempts import cart_payment, check_attempt_caps
from app.services.carts import Due, is_paid_in_medusa, paid_in_medusa, payer_of
from app.services.charge import Charge, sale_of
from app.services.checkout import token_digest
from app.services.context import ServiceContext
from app.services.payment_state import THREEDS_WAITING, is_allowed
from app.services.threeds_stages import (
    ABANDONED_CODE,
    AMOUNT_CHANGED_CODE,
    CART_COMPLETED_CODE,
    REPLACED_CODE,
    SESSION_GONE_CODE,
    abandoned,
    action_answer,
    busy,
    move,
    record,
    settled,
    stage_of,
)
from app.services.vault import Vault
from app.services.views import Answer, paid_answer


@dataclass(frozen=True)
class _CardOf:
    """What the authenticated sale does with a card on file: save the typed card, or pay with a saved one."""

    save_card: bool = False
    saved_card_id: str | None = None


class ThreeDS:
    def __init__(self, ctx: ServiceContext, charge: Charge) -> None:
        self.ctx = ctx
        self.vault = Vault(ctx)
        self.settings = ctx.settings
        self.gateway = ctx.gateway
        self.charge = charge
        self.window = timedelta(seconds=ctx.settings.netvalve_threeds_window_seconds)
        # An ``initializing`` stage older than this belongs to a request that died: it no longer blocks.
        self.stale = timedelta(seconds=worst_case_call_seconds(ctx.settings))

    async def start(
        self,
        due: Due,
        sale: Sale,
        browser: BrowserInfo | None,
        return_url: str | None,
        idempotency_key: str | None,
        *,
        saved_card_id: str | None = None,
    ) -> Answer[PayResponse]:
        """Authenticate the card before the sale: at once (frictionless), or after the storefront's part. A
        saved card (``saved_card_id``) is authenticated by its gateway token like a typed one."""
        if browser is None:
            raise errors.BrowserDataRequired()
        request = _init_request(sale, browser, self._return_url(return_url))
        digest = token_digest(sale.payment_token)
        initial = sale.card_on_file is not None and sale.card_on_file.kind == "initial"
        card = _CardOf(save_card=initial, saved_card_id=saved_card_id)
        claimed = await self._claim(due, digest, card, redirect=return_url is not None)
        if isinstance(claimed, Answer):
            return claimed
        result = await self.gateway.threeds_initialize(request)
        return await self._go_on(claimed, {ThreeDSStage.INITIALIZING}, result, due, sale, idempotency_key)

    async def finish(
        self,
        cart_id: str | None,
        payment_session_id: str | None,
        payment_token: str | None,
        customer_ip: str | None,
        idempotency_key: str | None,
        caller: Caller | None,
        *,
        payment_collection_id: str | None = None,
        saved_card_id: str | None = None,
    ) -> Answer[PayResponse]:
        """Go on after the device-data frame or the challenge, with the hosted fields' token or the saved card
        the payment began with; a second finish answers like the first."""
        cart = await self.ctx.carts.get_payable(cart_id, payment_collection_id, payment_session_id, caller)
        session_id = cart.payment_session.id if cart.payment_session else None
        async with self.ctx.reads() as db:
            repo = PaymentRepository(db)
            if session_id is not None:
                payment = await repo.find_by_session(session_id)
            else:
                payment = await repo.find_latest_for(payer_of(cart))
        if payment is None or payment.threeds_token_sha256 is None:
            raise errors.ThreeDSNotStarted()
        if saved_card_id is not None and payment.saved_card_id != saved_card_id:
            raise errors.ThreeDSTokenMismatch()
        on_file: CardOnFile | None = None
        if saved_card_id is not None:
            # Still the customer's, still live: deleted meanwhile, it pays nothing.
            payment_token = (await self.vault.usable(saved_card_id, cart)).token
            on_file = CardOnFile(kind="customer", token=payment_token)
        elif payment.save_card:
            on_file = CardOnFile(kind="initial")
        if payment_token is None or payment.threeds_token_sha256 != token_digest(payment_token):
            raise errors.ThreeDSTokenMismatch()
        unpaid = PaymentStatus(payment.status) in (PaymentStatus.REQUIRES_MORE, PaymentStatus.ERROR)
        if is_paid_in_medusa(cart) and unpaid:
            # The cart is an order already, or Medusa holds the collection paid (paid some other way): this
            # authentication may charge nothing.
            await self._fail_waiting(payment, CART_COMPLETED_CODE)
            raise paid_in_medusa(cart)
        if payment.payment_session_id not in (None, session_id) and stage_of(payment) in THREEDS_WAITING:
            # The latest payment of a cart whose session Medusa deleted: a sale would belong to no session.
            await self._fail_waiting(payment, SESSION_GONE_CODE)
            raise errors.PaymentSessionNotFound()
        due = self.ctx.carts.due(cart)
        payment = await self._expire_or_check_amount(payment, due)
        sale = sale_of(due, payment_token, customer_ip, on_file)
        stage = stage_of(payment)
        if stage is ThreeDSStage.DEVICE_DATA:
            assert payment.threeds_transaction_id is not None
            result = await self.gateway.threeds_authenticate(
                _auth_request(sale, payment.threeds_transaction_id)
            )
        elif stage is ThreeDSStage.CHALLENGE:
            assert payment.threeds_transaction_id is not None
            result = await self.gateway.threeds_result(
                requests.threeds_result(due.routing, payment.threeds_transaction_id)
            )
        else:
            return settled(payment, self.stale)
        return await self._go_on(payment.id, {stage}, result, due, sale, idempotency_key)

    async def _claim(
        self, due: Due, digest: str, card: _CardOf, *, redirect: bool
    ) -> int | Answer[PayResponse]:
        """Record ``initializing`` and commit it before NetValve hears of it; the answer instead when an
        authentication of this card for this amount is already waiting on the shopper."""
        try:
            async with self.ctx.ledger.sessionmaker.begin() as db:
                repo = PaymentRepository(db)
                payment = await cart_payment(self.ctx, repo, due)
                if payment.operation_in_flight:
                    raise errors.OperationInProgress()
                if not is_allowed(PaymentStatus(payment.status), self.charge.operation):
                    return paid_answer(payment)
                # A session out of payment attempts may not authenticate another card either.
                await check_attempt_caps(self.ctx, repo, payment)
                stage = stage_of(payment)
                fresh = not abandoned(payment, self.window)
                same = payment.threeds_token_sha256 == digest and payment.medusa_amount == due.exact
                if stage in THREEDS_WAITING and fresh and same:
                    return action_answer(payment)
                if busy(payment, self.stale):
                    raise errors.OperationInProgress()
                if stage in THREEDS_WAITING:
                    move(payment, ThreeDSStage.FAILED, ABANDONED_CODE if not fresh else REPLACED_CODE)
                elif stage is ThreeDSStage.INITIALIZING:
                    move(payment, None)
                payment.attempt += 1  # the caps were checked above; its sale counts no further
                move(payment, ThreeDSStage.INITIALIZING)
                payment.amount_minor = due.amount_minor
                payment.medusa_amount = due.exact
                payment.currency = due.currency
                payment.threeds_transaction_id = None
                payment.threeds_redirect = redirect
                payment.threeds_token_sha256 = digest
                payment.save_card = card.save_card
                payment.saved_card_id = card.saved_card_id
                return payment.id
        except IntegrityError:
            # Another request created this session's payment at the same moment.
            raise errors.OperationInProgress() from None

    async def _go_on(
        self,
        payment_id: int,
        expected: set[ThreeDSStage],
        result: GatewayResult[ThreeDSProviderResponse],
        due: Due,
        sale: Sale,
        idempotency_key: str | None,
    ) -> Answer[PayResponse]:
        """Record what a 3DS answer means, then act on it: the sale, the storefront's part, or a decline."""
        step = threeds_step(result)
        if step.kind is ThreeDSKind.WAITING and ThreeDSStage.INITIALIZING in expected:
            # Not finished, yet nothing for the shopper to do: as good as no answer, and nothing was charged.
            step = ThreeDSStep(ThreeDSKind.UNANSWERED, code=step.code)
        async with self.ctx.ledger.locked(payment_id) as locked:
            payment = locked.payment
            if stage_of(payment) not in expected:
                # Another request for this cart moved the authentication on meanwhile: its outcome stands.
                return settled(payment, self.stale)
            record(payment, step, result)
            saved_card_id = payment.saved_card_id
        if step.kind is ThreeDSKind.UNANSWERED:
            if result.refusal is Refusal.INVALID_TOKEN:
                # The token is the one field the storefront supplies: its fault, as on the sale.
                raise errors.InvalidPaymentToken(details={"response_code": result.code})
            errors.raise_if_nothing_happened(result)
            raise errors.GatewayUnavailable()
        if step.kind is ThreeDSKind.FAILED:
            raise errors.ThreeDSFailed()
        if step.kind is ThreeDSKind.AUTHENTICATED:
            assert step.proof is not None
            return await self.charge.charge(due, sale, idempotency_key, step, saved_card_id=saved_card_id)
        return action_answer(payment)

    async def _fail_waiting(self, payment: Payment, code: str) -> None:
        """Fail the authentication if it still waits on the shopper; whatever else it reached stands."""
        if stage_of(payment) not in THREEDS_WAITING:
            return
        async with self.ctx.ledger.locked(payment.id) as locked:
            if stage_of(locked.payment) in THREEDS_WAITING:
                move(locked.payment, ThreeDSStage.FAILED, code)

    async def _expire_or_check_amount(self, payment: Payment, due: Due) -> Payment:
        """Fail an authentication past NetValve's window, or one made for an amount the cart no longer has."""
        stage = stage_of(payment)
        if stage not in THREEDS_WAITING:
            return payment
        late = abandoned(payment, self.window)
        changed = payment.medusa_amount != due.exact or payment.currency != due.currency
        if not (late or changed):
            return payment
        async with self.ctx.ledger.locked(payment.id) as locked:
            if stage_of(locked.payment) is stage:
                move(locked.payment, ThreeDSStage.FAILED, ABANDONED_CODE if late else AMOUNT_CHANGED_CODE)
            payment = locked.payment
        if changed and not late:
            self.ctx.carts.check_unchanged(payment, due.cart)
        return payment

    def _return_url(self, url: str | None) -> str | None:
        """The storefront's page NetValve sends a full-page challenge back to: only on a storefront origin."""
        if url is None:
            return None
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        allowed = self.settings.store_cors
        if parts.scheme not in ("http", "https") or ("*" not in allowed and origin not in allowed):
            raise errors.ThreeDSReturnUrlNotAllowed()
        return url


def _init_request(sale: Sale, browser: BrowserInfo, return_url: str | None) -> ThreeDSInitRequest:
    """``/3ds/v2/initialization`` for the sale's own fields; checked before anything is recorded, with the
    ``/3ds/authentication`` the device data may lead to (NetValve asks it for the shopper's names and
    country)."""
    try:
        request = requests.threeds_initialization(sale, Browser(**browser.model_dump()), return_url)
        requests.check_threeds_authentication(sale)
    except UnsendableRequest as exc:
        raise errors.InvalidPaymentRequest.naming(exc) from None
    return request


def _auth_request(sale: Sale, transaction_id: str) -> ThreeDSAuthRequest:
    try:
        return requests.threeds_authentication(sale, transaction_id)
    except UnsendableRequest as exc:
        raise errors.InvalidPaymentRequest.naming(exc) from None
