"""Pay for a cart (or a payment collection without one): the sale (``charge``) for Medusa's amount, never
twice, after a 3-D Secure authentication when one is configured (``authentication``)."""

from __future__ import annotations

from typing import Protocol

from app.core.security import Caller
from app.gateway import CardOnFile, Sale
from app.models import CallOutcome, Payment, PaymentStatus
from app.repositories.hpf_tokens import HpfTokenRepository
from app.repositories.medusa_rows import MedusaCollection
from app.repositories.payments import OPEN_CALL_OUTCOMES, PaymentRepository
from app.schemas.payment import BrowserInfo, PayResponse
from app.services import errors
from app.services.attempts import release_unpaid_hosted
from app.services.carts import Due, already_paid, is_paid_in_medusa, paid_in_medusa, payer_of
from app.services.charge import Charge, sale_of
from app.services.checkout import token_digest
from app.services.context import ServiceContext
from app.services.vault import Vault
from app.services.views import Answer, is_open, paid_answer

# A call made under a key that still stands for its request: a retry answers from it and never sends again.
_KEY_BINDS = frozenset({*OPEN_CALL_OUTCOMES, CallOutcome.APPROVED})


class Authentication(Protocol):
    async def start(
        self,
        due: Due,
        sale: Sale,
        browser: BrowserInfo | None,
        return_url: str | None,
        idempotency_key: str | None,
        *,
        saved_card_id: str | None = None,
    ) -> Answer[PayResponse]: ...


class SavedCardPayments(Protocol):
    async def customer_sale(self, due: Due, card_id: str, customer_ip: str | None) -> Sale: ...


class Payments:
    def __init__(
        self,
        ctx: ServiceContext,
        charge: Charge,
        authentication: Authentication | None,
        saved_cards: SavedCardPayments,
    ) -> None:
        self.ctx = ctx
        self.reads = ctx.reads
        self.carts = ctx.carts
        self.charge = charge
        # 3-D Secure before the sale (``NETVALVE_THREEDS=on``).
        self.authentication = authentication
        self.saved_cards = saved_cards
        self.vault = Vault(ctx)

    async def pay(
        self,
        cart_id: str | None,
        payment_session_id: str | None,
        payment_token: str | None,
        customer_ip: str | None,
        idempotency_key: str | None = None,
        caller: Caller | None = None,
        browser: BrowserInfo | None = None,
        threeds_return_url: str | None = None,
        *,
        payment_collection_id: str | None = None,
        save_card: bool = False,
        saved_card_id: str | None = None,
    ) -> Answer[PayResponse]:
        """Charge (or authorize) a cart, or a payment collection without one, for the amount Medusa holds;
        never twice. With ``save_card`` an approved card is saved for the cart's registered customer; with
        ``saved_card_id`` the customer pays with a card they saved."""
        cart = await self.carts.get_payable(cart_id, payment_collection_id, payment_session_id, caller)
        if save_card:
            self.vault.check_may_save(cart)
        payer = payer_of(cart)
        async with self.reads() as db:
            repo = PaymentRepository(db)
            made = await repo.call_for_key(idempotency_key) if idempotency_key else None
            if made is not None and made.outcome in _KEY_BINDS:
                bound = await db.get(Payment, made.payment_id)
                assert bound is not None
                return paid_answer(bound)
            existing = await repo.find_live_for(payer)
        if existing is not None and not await release_unpaid_hosted(self.ctx, existing):
            self.carts.check_unchanged(existing, cart)
            if isinstance(cart, MedusaCollection) and existing.authorized_minor > 0 and not is_open(existing):
                # A cart's paid answer lets its checkout complete; a collection has no checkout to complete.
                raise already_paid(cart)
            return paid_answer(existing)
        if is_paid_in_medusa(cart):
            raise paid_in_medusa(cart)
        due = self.carts.due(cart)
        if saved_card_id is not None:
            sale = await self.saved_cards.customer_sale(due, saved_card_id, customer_ip)
            return await self._sell(due, sale, browser, threeds_return_url, idempotency_key, saved_card_id)
        if payment_token is None:
            waiting = PayResponse(
                cart_id=payer.cart_id,
                payment_collection_id=payer.payment_collection_id,
                payment_session_id=due.session_id,
                status=PaymentStatus.REQUIRES_MORE,
                currency_code=due.currency,
                amount=due.amount,
            )
            return Answer(waiting, is_open=False)
        async with self.reads() as db:
            token_payer = await HpfTokenRepository(db).token_payer(token_digest(payment_token))
        if token_payer is not None and token_payer != payer:
            raise errors.PaymentTokenCartMismatch()
        # Everything NetValve will be sent is checked before anything is recorded.
        sale = sale_of(due, payment_token, customer_ip, CardOnFile(kind="initial") if save_card else None)
        return await self._sell(due, sale, browser, threeds_return_url, idempotency_key)

    async def _sell(
        self,
        due: Due,
        sale: Sale,
        browser: BrowserInfo | None,
        threeds_return_url: str | None,
        idempotency_key: str | None,
        saved_card_id: str | None = None,
    ) -> Answer[PayResponse]:
        """The sale, after a 3-D Secure authentication when one is configured: the shopper is present,
        with a saved card too."""
        if self.authentication is not None:
            return await self.authentication.start(
                due, sale, browser, threeds_return_url, idempotency_key, saved_card_id=saved_card_id
            )
        return await self.charge.charge(due, sale, idempotency_key, saved_card_id=saved_card_id)
