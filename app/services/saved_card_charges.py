"""Charges of a saved card: the customer paying a cart with it (customer-initiated), and the merchant
charging it for a payment collection of the customer's order (merchant-initiated). Both go through the
same call protocol, attempt caps and idempotency as a card typed in the hosted fields (``Charge``)."""

from __future__ import annotations

from app.gateway import CardOnFile, Sale
from app.schemas.payment import PayResponse
from app.services.carts import Due, is_paid_in_medusa, paid_in_medusa
from app.services.charge import Charge, sale_of
from app.services.context import ServiceContext
from app.services.vault import Vault
from app.services.views import Answer


class SavedCardCharges:
    def __init__(self, ctx: ServiceContext, charge: Charge) -> None:
        self.ctx = ctx
        self.charge = charge
        self.vault = Vault(ctx)

    async def customer_sale(self, due: Due, card_id: str, customer_ip: str | None) -> Sale:
        """The sale of the cart's customer paying with their saved card (a customer-initiated ``TOKEN``
        sale); refused before anything is sent when the card is not theirs (or not of this sales channel),
        the cart a guest's, or the card expired."""
        usable = await self.vault.usable(card_id, due.cart)
        return sale_of(due, "", customer_ip, CardOnFile(kind="customer", token=usable.token))

    async def merchant_charge(
        self, card_id: str, collection_id: str, idempotency_key: str
    ) -> Answer[PayResponse]:
        """The merchant charges the card for what the collection owes (Medusa's amount); the collection's
        order must be the card's customer's, and the card must have its initial customer-initiated sale."""
        self.vault.require_enabled()
        collection = await self.ctx.carts.get_collection(collection_id, None)
        if is_paid_in_medusa(collection):
            raise paid_in_medusa(collection)
        usable = await self.vault.usable(card_id, collection, merchant=True)
        due = self.ctx.carts.due(collection)
        on_file = CardOnFile(
            kind="merchant", token=usable.token, initial_transaction_id=usable.card.initial_transaction_id
        )
        sale = sale_of(due, "", None, on_file)
        return await self.charge.charge(due, sale, idempotency_key, saved_card_id=card_id)
