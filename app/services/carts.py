"""What Medusa says about a cart: the amount due, its currency's merchant routing, its payment session."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.core.config import Settings
from app.core.money import currency_exponent, from_minor, round_to_minor
from app.core.security import Caller
from app.gateway import AMOUNT_DECIMALS, MerchantNotConfigured, Routing, routing_for
from app.models import Payment
from app.repositories.medusa import MedusaReader
from app.repositories.medusa_rows import MedusaCart
from app.services import errors


@dataclass(frozen=True)
class Due:
    """What the cart owes: Medusa's exact amount, and what NetValve is sent (it rounded once, in major and
    minor units)."""

    cart: MedusaCart
    exact: Decimal
    amount: Decimal
    amount_minor: int
    currency: str
    routing: Routing

    @property
    def session_id(self) -> str | None:
        return self.cart.payment_session.id if self.cart.payment_session else None


class Carts:
    def __init__(self, settings: Settings, medusa: MedusaReader) -> None:
        self.settings = settings
        self.medusa = medusa

    async def get(
        self, cart_id: str, payment_session_id: str | None, caller: Caller | None = None
    ) -> MedusaCart:
        cart = await self.medusa.get_cart(cart_id)
        # A cart of another sales channel is answered like a missing one: its existence is not the caller's.
        if cart is None or (caller is not None and not caller.may_use_sales_channel(cart.sales_channel_id)):
            raise errors.CartNotFound()
        if payment_session_id is not None and (
            cart.payment_session is None or cart.payment_session.id != payment_session_id
        ):
            raise errors.PaymentSessionNotFound()
        return cart

    def due(self, cart: MedusaCart) -> Due:
        """The amount to charge, refused (422, before anything is recorded) when NetValve cannot take it."""
        amount = cart.amount_due
        if amount is None:
            raise errors.PaymentCollectionMissing()
        currency = cart.currency_code
        if currency_exponent(currency) > AMOUNT_DECIMALS:
            raise errors.CurrencyNotSupported(details={"currency": currency})
        minor = round_to_minor(amount, currency)
        if minor <= 0:
            raise errors.InvalidAmount(f"{amount} {currency.upper()} is nothing to charge")
        try:
            routing = routing_for(self.settings, currency)
        except MerchantNotConfigured as exc:
            raise errors.CurrencyNotConfigured(str(exc)) from None
        return Due(cart, amount, from_minor(minor, currency), minor, currency, routing)

    async def check_current(self, payment: Payment) -> None:
        """``check_unchanged`` against Medusa's current amount, read as cheaply as Medusa allows: the
        payment's own session while it exists (Medusa deletes a session whose cart total changed)."""
        if payment.payment_session_id is not None:
            session = await self.medusa.get_payment_session(payment.payment_session_id)
            if session is not None:
                self._compare(payment, session.amount, session.currency_code)
                return
        self.check_unchanged(payment, await self.medusa.get_cart(payment.cart_id))

    def check_unchanged(self, payment: Payment, cart: MedusaCart | None) -> None:
        """409 when Medusa's amount for the payment's cart is no longer what the ledger charged."""
        if cart is None or cart.amount_due is None:
            return
        self._compare(payment, cart.amount_due, cart.currency_code)

    @staticmethod
    def _compare(payment: Payment, amount: Decimal, currency: str) -> None:
        """Medusa's exact amounts compared, never the rounded ones: 0.0001 more is another cart."""
        if amount != payment.medusa_amount or currency.upper() != payment.currency:
            raise errors.PaymentAmountMismatch(
                details={"ledger_amount": str(payment.medusa_amount), "medusa_amount": str(amount)}
            )
