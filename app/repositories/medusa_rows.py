"""What the service reads from Medusa's tables, as values (``medusa.MedusaReader`` reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class MedusaAddress:
    first_name: str | None
    last_name: str | None
    company: str | None
    address_1: str | None
    address_2: str | None
    city: str | None
    province: str | None
    postal_code: str | None
    country_code: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class MedusaPaymentSession:
    id: str
    payment_collection_id: str
    provider_id: str
    amount: Decimal
    currency_code: str
    status: str
    data: dict[str, Any]
    authorized_at: datetime | None
    cart_id: str | None


@dataclass(frozen=True, slots=True)
class MedusaCart:
    id: str
    email: str | None
    currency_code: str
    region_id: str | None
    customer_id: str | None
    completed_at: datetime | None
    sales_channel_id: str | None
    billing_address: MedusaAddress | None
    shipping_address: MedusaAddress | None
    customer_first_name: str | None
    customer_last_name: str | None
    customer_phone: str | None
    payment_collection_id: str | None
    payment_collection_amount: Decimal | None
    payment_collection_status: str | None
    payment_session: MedusaPaymentSession | None
    order_id: str | None
    # Whether the cart's customer registered (Medusa's ``customer.has_account``); False for a guest.
    customer_has_account: bool = False

    @property
    def is_completed(self) -> bool:
        return self.completed_at is not None

    @property
    def amount_due(self) -> Decimal | None:
        """What the shopper pays: the live NetValve session's amount, else the payment collection's."""
        if self.payment_session is not None:
            return self.payment_session.amount
        return self.payment_collection_amount


@dataclass(frozen=True, slots=True)
class MedusaCollection:
    """A payment collection of an order that has no cart (an order edit's, a claim's or an exchange's), with
    what a payment needs of its order: the shopper, the addresses, the region and the sales channel. It
    answers the questions the payment services ask a ``MedusaCart``."""

    id: str
    email: str | None
    currency_code: str
    region_id: str | None
    customer_id: str | None
    sales_channel_id: str | None
    billing_address: MedusaAddress | None
    shipping_address: MedusaAddress | None
    customer_first_name: str | None
    customer_last_name: str | None
    customer_phone: str | None
    payment_collection_amount: Decimal
    payment_collection_status: str
    payment_session: MedusaPaymentSession | None
    order_id: str
    order_status: str

    @property
    def payment_collection_id(self) -> str:
        return self.id

    @property
    def is_completed(self) -> bool:
        """Never: a collection has no checkout to complete. Its own status says whether it is paid."""
        return False

    @property
    def amount_due(self) -> Decimal:
        """The collection's amount: Medusa updates it when the order's difference changes (an exchange's
        return received), and leaves the session with the amount it was made with."""
        return self.payment_collection_amount

    @property
    def session_is_stale(self) -> bool:
        """Whether the NetValve session was made for another amount than the collection now owes."""
        return self.payment_session is not None and self.payment_session.amount != self.amount_due


@dataclass(frozen=True, slots=True)
class MedusaCustomer:
    id: str
    email: str | None
    has_account: bool


@dataclass(frozen=True, slots=True)
class PublishableKey:
    id: str
    title: str
    sales_channel_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MedusaRefund:
    """A refund Medusa recorded on a payment: its id (``ref_...``) and exact amount."""

    id: str
    amount: Decimal
