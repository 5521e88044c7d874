"""What Medusa says about a cart, or about a payment collection of an order that has no cart (an order edit's,
a claim's or an exchange's): the amount due, its currency's merchant routing, its payment session."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.core.config import Settings
from app.core.errors import AppError
from app.core.money import currency_exponent, from_minor, round_to_minor
from app.core.security import Caller
from app.gateway import AMOUNT_DECIMALS, MerchantNotConfigured, Routing, routing_for
from app.models import Payer, Payment
from app.repositories.medusa import MedusaReader
from app.repositories.medusa_rows import MedusaCart, MedusaCollection
from app.services import errors

# What a storefront pays: a cart, or a payment collection without one. Both answer the same questions.
Payable = MedusaCart | MedusaCollection
# Medusa's collection statuses that mean another payment would be one too many.
_COLLECTION_PAID = frozenset({"completed", "authorized"})


@dataclass(frozen=True)
class Due:
    """What the cart (or collection) owes: Medusa's exact amount, and what NetValve is sent (it rounded once,
    in major and minor units)."""

    cart: Payable
    exact: Decimal
    amount: Decimal
    amount_minor: int
    currency: str
    routing: Routing

    @property
    def session_id(self) -> str | None:
        return self.cart.payment_session.id if self.cart.payment_session else None

    @property
    def payer(self) -> Payer:
        return payer_of(self.cart)


def payer_of(payable: Payable) -> Payer:
    if isinstance(payable, MedusaCollection):
        return Payer(payment_collection_id=payable.id)
    return Payer(cart_id=payable.id)


def order_description(payable: Payable) -> str:
    """What NetValve's order description says the payment is for."""
    if isinstance(payable, MedusaCollection):
        return f"Order {payable.order_id} payment collection {payable.id}"
    return f"Cart {payable.id}"


def is_paid_in_medusa(payable: Payable) -> bool:
    """A completed cart, or a collection Medusa holds paid: nothing more may be charged for it."""
    if isinstance(payable, MedusaCollection):
        return payable.payment_collection_status in _COLLECTION_PAID
    return payable.is_completed


def paid_in_medusa(payable: Payable) -> AppError:
    """The refusal for ``is_paid_in_medusa``."""
    return errors.PaymentCollectionPaid() if isinstance(payable, MedusaCollection) else errors.CartCompleted()


def already_paid(payable: Payable) -> AppError:
    """The refusal for a payer the ledger holds a settled payment for."""
    return (
        errors.PaymentCollectionPaid() if isinstance(payable, MedusaCollection) else errors.CartAlreadyPaid()
    )


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

    async def get_collection(
        self, collection_id: str, payment_session_id: str | None, caller: Caller | None = None
    ) -> MedusaCollection:
        """A collection of an order that has no cart, by the same rules as ``get``; a canceled one (or one
        of a canceled order) is refused."""
        collection = await self.medusa.get_collection(collection_id)
        if collection is None or (
            caller is not None and not caller.may_use_sales_channel(collection.sales_channel_id)
        ):
            raise errors.PaymentCollectionNotFound()
        if payment_session_id is not None and (
            collection.payment_session is None or collection.payment_session.id != payment_session_id
        ):
            raise errors.PaymentSessionNotFound()
        if collection.payment_collection_status == "canceled" or collection.order_status == "canceled":
            raise errors.PaymentCollectionCanceled()
        return collection

    async def get_payable(
        self,
        cart_id: str | None,
        collection_id: str | None,
        payment_session_id: str | None,
        caller: Caller | None = None,
    ) -> Payable:
        """The cart, or else the collection (the request names exactly one)."""
        if cart_id is not None:
            return await self.get(cart_id, payment_session_id, caller)
        assert collection_id is not None
        return await self.get_collection(collection_id, payment_session_id, caller)

    def due(self, cart: Payable) -> Due:
        """The amount to charge, refused (422, before anything is recorded) when NetValve cannot take it."""
        amount = cart.amount_due
        if amount is None:
            raise errors.PaymentCollectionMissing()
        if isinstance(cart, MedusaCollection) and cart.payment_session is None:
            # No cart completion authorizes a collection's payment: Medusa hears of it only through the
            # webhook naming its session, and a payment without one would stay unknown to Medusa.
            raise errors.PaymentSessionMissing()
        if isinstance(cart, MedusaCollection) and cart.session_is_stale:
            # Medusa would record a payment of the session's amount: the storefront makes a new session.
            assert cart.payment_session is not None
            raise errors.PaymentAmountMismatch(
                details={"session_amount": str(cart.payment_session.amount), "medusa_amount": str(amount)}
            )
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
        payment's own session while it exists (Medusa deletes a session whose cart total changed); a
        collection's own amount, which Medusa changes without touching its session."""
        if payment.cart_id is None and payment.payment_collection_id is not None:
            self.check_unchanged(payment, await self.medusa.get_collection(payment.payment_collection_id))
            return
        if payment.payment_session_id is not None:
            session = await self.medusa.get_payment_session(payment.payment_session_id)
            if session is not None:
                self._compare(payment, session.amount, session.currency_code)
                return
        if payment.cart_id is not None:
            self.check_unchanged(payment, await self.medusa.get_cart(payment.cart_id))

    async def sales_channel(self, payment: Payment) -> str | None:
        """The sales channel of the payment's cart, or of the order its collection belongs to."""
        if payment.cart_id is not None:
            return await self.medusa.get_cart_sales_channel(payment.cart_id)
        if payment.payment_collection_id is not None:
            return await self.medusa.get_collection_sales_channel(payment.payment_collection_id)
        return None

    def check_unchanged(self, payment: Payment, cart: Payable | None) -> None:
        """409 when Medusa's amount for the payment's cart (or collection) is no longer what the ledger
        charged."""
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
