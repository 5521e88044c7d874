"""The sale (or authorization in manual-capture mode) for what a cart (or a payment collection) owes: built
once, for both the plain payment and the one 3-D Secure authenticated (``sale_of``), and sent through the
ledger's call protocol (``Charge``): the intent is committed before the call, the answer recorded after it."""

from __future__ import annotations

from dataclasses import replace

from app.core.config import CaptureMode
from app.gateway import CardOnFile, Refusal, Sale, Shopper, ThreeDSStep, UnsendableRequest, requests
from app.models import Operation, Payment
from app.repositories.medusa_rows import MedusaAddress, MedusaCart
from app.schemas.payment import PayResponse
from app.services import errors
from app.services import saved_card_errors as vault_errors
from app.services.attempts import open_attempt
from app.services.carts import Due, Payable, order_description
from app.services.context import ServiceContext
from app.services.vault import Vault, refused
from app.services.views import Answer, paid_answer


def sale_of(
    due: Due, payment_token: str, customer_ip: str | None, card_on_file: CardOnFile | None = None
) -> Sale:
    """The sale for what the cart owes, refused (422, before anything is recorded) when NetValve would not
    take it; with ``card_on_file`` one that saves a card, or pays with a saved one (its token)."""
    sale = Sale(
        amount=due.amount,
        currency=due.currency,
        routing=due.routing,
        description=order_description(due.cart),
        shopper=_shopper(due.cart, customer_ip),
        payment_token=payment_token,
        card_on_file=card_on_file,
    )
    try:
        requests.check_sale(sale)
    except UnsendableRequest as exc:
        raise errors.InvalidPaymentRequest.naming(exc) from None
    return sale


def _shopper(cart: Payable, customer_ip: str | None) -> Shopper:
    """The billing address (else the shipping one) and its names, else the cart's customer; the card
    holder's name from the billing address only."""
    billing = cart.billing_address
    address = billing or cart.shipping_address
    shopper = Shopper(
        email=cart.email,
        first_name=cart.customer_first_name,
        last_name=cart.customer_last_name,
        phone=cart.customer_phone,
        ip=customer_ip,
        # The parcel's recipient may not hold the card: only the billing address names the card holder.
        card_holder=_full_name(billing) if billing is not None else None,
    )
    if address is None:
        return shopper
    return replace(
        shopper,
        first_name=address.first_name or shopper.first_name,
        last_name=address.last_name or shopper.last_name,
        street=" ".join(part for part in (address.address_1, address.address_2) if part) or None,
        city=address.city,
        province=address.province,
        postal_code=address.postal_code,
        country_code=address.country_code,
        phone=address.phone or shopper.phone,
    )


def _full_name(address: MedusaAddress) -> str | None:
    return " ".join(part for part in (address.first_name, address.last_name) if part) or None


class Charge:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.ledger = ctx.ledger
        self.gateway = ctx.gateway

    @property
    def operation(self) -> Operation:
        return (
            Operation.AUTHORIZE
            if self.settings.netvalve_capture_mode is CaptureMode.AUTHORIZE
            else Operation.SALE
        )

    async def charge(
        self,
        due: Due,
        sale: Sale,
        idempotency_key: str | None,
        authenticated: ThreeDSStep | None = None,
        *,
        saved_card_id: str | None = None,
    ) -> Answer[PayResponse]:
        """Send the sale (or authorization) through the ledger's call protocol: recorded, sent, settled. After
        a 3-D Secure authentication (``authenticated``), it carries its proof and belongs to the attempt the
        authentication counted. An approved initial sale of a card on file saves the card; one paid with a
        saved card records it (``saved_card_id``)."""
        operation = self.operation
        on_file = sale.card_on_file
        opened = await open_attempt(
            self.ctx,
            due,
            operation,
            idempotency_key,
            authenticated=authenticated is not None,
            save_card=on_file is not None and on_file.kind == "initial",
            saved_card_id=saved_card_id,
        )
        if isinstance(opened, Payment):
            return paid_answer(opened)
        ref, reference = opened
        send = self.gateway.authorize if operation is Operation.AUTHORIZE else self.gateway.sale
        try:
            body = requests.sale(sale, reference, authenticated)
        except UnsendableRequest as exc:
            raise errors.InvalidPaymentRequest.naming(exc) from None
        result = await send(body)

        async with self.ledger.locked(ref.payment_id) as locked:
            applied = locked.answer(await locked.call(ref.call_id), result)
            answer = paid_answer(locked.payment)
            to_save = locked.payment.save_card and locked.payment.authorized_minor > 0
        if not applied:
            return answer  # a look-up settled the call while we waited: what it recorded stands
        if to_save and isinstance(due.cart, MedusaCart):
            saved = await Vault(self.ctx).save(ref.payment_id, due.cart, sale, result)
            answer = Answer(answer.body.model_copy(update={"saved_card_id": saved}), answer.is_open)
        if result.refusal is Refusal.NO_INITIAL_CIT:
            raise refused(vault_errors.SavedCardNoConsent(details={"response_code": result.code}))
        if result.declined:
            raise errors.CardDeclined()
        if result.refusal is Refusal.INVALID_TOKEN:
            # The token is the one field of the request the storefront supplies: its fault, not ours.
            raise errors.InvalidPaymentToken(details={"response_code": result.code})
        if not answer.is_open:
            errors.raise_if_nothing_happened(result)
        return answer
