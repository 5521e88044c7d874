"""Medusa's Store and Admin APIs, called exactly as a storefront and an admin would (no Medusa SDK, no DB
writes), plus the catalog the end-to-end test seeds through the Admin API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

PROVIDER_ID = "pp_netvalve_netvalve"
COUNTRY = "de"
# Odd cents on purpose: any float or rounding slip between Medusa, the service and NetValve shows.
UNIT_PRICE = Decimal("12.34")
SHIPPING_PRICE = Decimal("4.99")
ADDRESS = {
    "first_name": "Erika",
    "last_name": "Mustermann",
    "address_1": "Hauptstrasse 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country_code": COUNTRY,
    "phone": "+4930123456",
}
ORDER_FIELDS = ",".join(
    [
        "id",
        "status",
        "total",
        "payment_status",
        "*payment_collections",
        "*payment_collections.payments",
        "*payment_collections.payments.captures",
        "*payment_collections.payments.refunds",
    ]
)


def json_number(amount: Decimal) -> float:
    """An amount for a Medusa route that takes a JSON number; refused unless its JSON text is exactly it."""
    number = float(amount)
    assert Decimal(repr(number)) == amount, amount
    return number


def body(response: httpx.Response) -> Any:
    """The JSON answer with every fraction as an exact Decimal (Medusa writes amounts as JSON numbers)."""
    return json.loads(response.text, parse_float=Decimal)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    answer: dict[str, Any] = body(response)
    return answer


@dataclass(frozen=True)
class Catalog:
    country: str
    region_id: str
    sales_channel_id: str
    publishable_key: str
    variant_id: str
    shipping_option_id: str
    location_id: str


@dataclass(frozen=True)
class MedusaPayment:
    id: str
    amount: Decimal
    captured: Decimal
    refunded: Decimal
    captured_at: str | None
    canceled_at: str | None
    payment_session_id: str


@dataclass(frozen=True)
class OrderSummary:
    """The order's money state (``order_summary`` of its current version)."""

    pending_difference: Decimal
    paid_total: Decimal
    refunded_total: Decimal
    payment_status: str


@dataclass(frozen=True)
class MedusaCollection:
    id: str
    status: str
    amount: Decimal
    captured: Decimal
    created_at: str


@dataclass(frozen=True)
class MedusaOrder:
    id: str
    status: str
    total: Decimal
    payment_status: str
    payments: list[MedusaPayment]

    @property
    def payment(self) -> MedusaPayment:
        assert len(self.payments) == 1, self.payments
        return self.payments[0]


class Admin:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @classmethod
    async def sign_in(cls, base_url: str, email: str, password: str) -> Admin:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as anonymous:
            token = ok(
                await anonymous.post("/auth/user/emailpass", json={"email": email, "password": password})
            )
        client = httpx.AsyncClient(
            base_url=base_url, timeout=60, headers={"authorization": f"Bearer {token['token']}"}
        )
        return cls(client)

    async def post(self, path: str, payload: dict[str, Any], **params: str) -> dict[str, Any]:
        return ok(await self.client.post(path, json=payload, params=params))

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        return ok(await self.client.get(path, params=params))

    async def seed(
        self,
        tag: str = "e2e",
        *,
        country: str = COUNTRY,
        unit_price: Decimal = UNIT_PRICE,
        shipping_price: Decimal = SHIPPING_PRICE,
    ) -> Catalog:
        """A EUR region for ``country`` offering the netvalve provider, a shipping option, a product with a
        EUR price and a publishable key, all in one sales channel (``tag`` keeps the names Medusa wants
        unique apart)."""
        providers = await self.get("/admin/payments/payment-providers")
        assert PROVIDER_ID in {p["id"] for p in providers["payment_providers"]}, providers
        region = (
            await self.post(
                "/admin/regions",
                {
                    "name": f"Europe (netvalve {tag})",
                    "currency_code": "eur",
                    "countries": [country],
                    "payment_providers": [PROVIDER_ID],
                },
            )
        )["region"]
        channel = (await self.post("/admin/sales-channels", {"name": f"Webshop (netvalve {tag})"}))[
            "sales_channel"
        ]
        key = (await self.post("/admin/api-keys", {"title": "Webshop", "type": "publishable"}))["api_key"]
        await self.post(f"/admin/api-keys/{key['id']}/sales-channels", {"add": [channel["id"]]})

        location = (
            await self.post(
                "/admin/stock-locations",
                {
                    "name": f"Berlin warehouse {tag}",
                    "address": {"address_1": "Lagerweg 1", "country_code": country},
                },
            )
        )["stock_location"]
        await self.post(f"/admin/stock-locations/{location['id']}/sales-channels", {"add": [channel["id"]]})
        await self.post(
            f"/admin/stock-locations/{location['id']}/fulfillment-providers", {"add": ["manual_manual"]}
        )
        with_set = (
            await self.post(
                f"/admin/stock-locations/{location['id']}/fulfillment-sets",
                {"name": f"Berlin shipping {tag}", "type": "shipping"},
                fields="*fulfillment_sets",
            )
        )["stock_location"]
        fulfillment_set = with_set["fulfillment_sets"][0]
        zone_set = (
            await self.post(
                f"/admin/fulfillment-sets/{fulfillment_set['id']}/service-zones",
                {"name": f"Germany {tag}", "geo_zones": [{"type": "country", "country_code": country}]},
                fields="*service_zones",
            )
        )["fulfillment_set"]
        profiles = await self.get("/admin/shipping-profiles", type="default")
        profile_id = profiles["shipping_profiles"][0]["id"]
        option = (
            await self.post(
                "/admin/shipping-options",
                {
                    "name": "Standard",
                    "service_zone_id": zone_set["service_zones"][0]["id"],
                    "shipping_profile_id": profile_id,
                    "provider_id": "manual_manual",
                    "price_type": "flat",
                    "type": {"label": "Standard", "description": "2-3 days", "code": f"standard-{tag}"},
                    "prices": [{"currency_code": "eur", "amount": json_number(shipping_price)}],
                    "rules": [
                        {"attribute": "enabled_in_store", "value": "true", "operator": "eq"},
                        {"attribute": "is_return", "value": "false", "operator": "eq"},
                    ],
                },
            )
        )["shipping_option"]
        product = (
            await self.post(
                "/admin/products",
                {
                    "title": f"Netvalve e2e mug {tag}",
                    "status": "published",
                    "shipping_profile_id": profile_id,
                    "sales_channels": [{"id": channel["id"]}],
                    "options": [{"title": "Size", "values": ["One"]}],
                    "variants": [
                        {
                            "title": "One",
                            "options": {"Size": "One"},
                            "manage_inventory": False,
                            "prices": [{"currency_code": "eur", "amount": json_number(unit_price)}],
                        }
                    ],
                },
            )
        )["product"]
        return Catalog(
            country=country,
            region_id=region["id"],
            sales_channel_id=channel["id"],
            publishable_key=key["token"],
            variant_id=product["variants"][0]["id"],
            shipping_option_id=option["id"],
            location_id=location["id"],
        )

    async def variant(self, catalog: Catalog, title: str, unit_price: Decimal) -> str:
        """Another product of the catalog's sales channel at ``unit_price`` EUR; its variant's id."""
        profiles = await self.get("/admin/shipping-profiles", type="default")
        product = (
            await self.post(
                "/admin/products",
                {
                    "title": title,
                    "status": "published",
                    "shipping_profile_id": profiles["shipping_profiles"][0]["id"],
                    "sales_channels": [{"id": catalog.sales_channel_id}],
                    "options": [{"title": "Size", "values": ["One"]}],
                    "variants": [
                        {
                            "title": "One",
                            "options": {"Size": "One"},
                            "manage_inventory": False,
                            "prices": [{"currency_code": "eur", "amount": json_number(unit_price)}],
                        }
                    ],
                },
            )
        )["product"]
        variant_id: str = product["variants"][0]["id"]
        return variant_id

    async def tax_region(self, country: str, rate: Decimal) -> None:
        """Tax for ``country`` at a default ``rate`` percent, computed by Medusa's own system provider; the
        region's prices stay tax-exclusive (Medusa's default), so tax is added on top."""
        await self.post(
            "/admin/tax-regions",
            {
                "country_code": country,
                "provider_id": "tp_system",
                "default_tax_rate": {"name": "VAT", "code": f"VAT{rate}", "rate": json_number(rate)},
            },
        )

    async def percentage_promotion(self, code: str, percent: Decimal) -> None:
        """A code that takes ``percent`` off every item of a cart."""
        await self.post(
            "/admin/promotions",
            {
                "code": code,
                "type": "standard",
                "status": "active",
                "is_automatic": False,
                "application_method": {
                    "type": "percentage",
                    "target_type": "items",
                    "allocation": "across",
                    "value": json_number(percent),
                    "currency_code": "eur",
                    "target_rules": [],
                },
            },
        )

    async def order(self, order_id: str) -> MedusaOrder:
        data = (await self.get(f"/admin/orders/{order_id}", fields=ORDER_FIELDS))["order"]
        payments = [
            MedusaPayment(
                id=p["id"],
                amount=Decimal(p["amount"]),
                captured=sum((Decimal(c["amount"]) for c in p.get("captures") or []), Decimal(0)),
                refunded=sum((Decimal(r["amount"]) for r in p.get("refunds") or []), Decimal(0)),
                captured_at=p.get("captured_at"),
                canceled_at=p.get("canceled_at"),
                payment_session_id=p["payment_session_id"],
            )
            for collection in data["payment_collections"]
            for p in collection.get("payments") or []
        ]
        return MedusaOrder(
            id=data["id"],
            status=data["status"],
            total=Decimal(data["total"]),
            payment_status=data["payment_status"],
            payments=payments,
        )

    async def capture(self, payment_id: str, amount: Decimal | None = None) -> httpx.Response:
        payload = {} if amount is None else {"amount": json_number(amount)}
        return await self.client.post(f"/admin/payments/{payment_id}/capture", json=payload)

    async def refund(self, payment_id: str, amount: Decimal) -> httpx.Response:
        return await self.client.post(
            f"/admin/payments/{payment_id}/refund", json={"amount": json_number(amount)}
        )

    async def cancel_order(self, order_id: str) -> httpx.Response:
        return await self.client.post(f"/admin/orders/{order_id}/cancel", json={})

    # --- after the checkout: order edits, fulfillments, returns and exchanges, as the admin dashboard does

    async def items(self, order_id: str) -> list[dict[str, Any]]:
        """The order's current line items (``id``, ``variant_id``, ``quantity``, ``unit_price``)."""
        order = (await self.get(f"/admin/orders/{order_id}", fields="id,*items"))["order"]
        items: list[dict[str, Any]] = order["items"]
        return items

    async def summary(self, order_id: str) -> OrderSummary:
        order = (await self.get(f"/admin/orders/{order_id}", fields="id,summary,payment_status"))["order"]
        totals = order["summary"]
        return OrderSummary(
            pending_difference=Decimal(totals["pending_difference"]),
            paid_total=Decimal(totals["paid_total"]),
            refunded_total=Decimal(totals["refunded_total"]),
            payment_status=order["payment_status"],
        )

    async def collections(self, order_id: str) -> list[MedusaCollection]:
        """Every payment collection of the order (``order_payment_collection``), oldest first."""
        collections = "*payment_collections"
        fields = f"id,{collections},{collections}.payments,{collections}.payments.captures"
        order = (await self.get(f"/admin/orders/{order_id}", fields=fields))["order"]
        found = [
            MedusaCollection(
                id=c["id"],
                status=c["status"],
                amount=Decimal(c["amount"]),
                captured=sum(
                    (Decimal(x["amount"]) for p in c.get("payments") or [] for x in p.get("captures") or []),
                    Decimal(0),
                ),
                created_at=c["created_at"],
            )
            for c in order["payment_collections"]
        ]
        return sorted(found, key=lambda c: c.created_at)

    async def edit_order(self, order_id: str) -> None:
        """``POST /admin/order-edits``: the order edit's later routes are keyed by the order's id."""
        await self.post("/admin/order-edits", {"order_id": order_id})

    async def edit_add_item(self, order_id: str, variant_id: str, quantity: int = 1) -> None:
        items = [{"variant_id": variant_id, "quantity": quantity}]
        await self.post(f"/admin/order-edits/{order_id}/items", {"items": items})

    async def edit_item_quantity(self, order_id: str, item_id: str, quantity: int) -> None:
        await self.post(f"/admin/order-edits/{order_id}/items/item/{item_id}", {"quantity": quantity})

    async def confirm_edit(self, order_id: str) -> None:
        await self.post(f"/admin/order-edits/{order_id}/request", {})
        await self.post(f"/admin/order-edits/{order_id}/confirm", {})

    async def fulfill(self, order_id: str, catalog: Catalog) -> None:
        """Fulfil every item (returns and exchanges take back only what was fulfilled)."""
        items = [{"id": i["id"], "quantity": i["quantity"]} for i in await self.items(order_id)]
        await self.post(
            f"/admin/orders/{order_id}/fulfillments", {"items": items, "location_id": catalog.location_id}
        )

    async def return_items(self, order_id: str, catalog: Catalog, items: list[dict[str, Any]]) -> None:
        """A return of ``items`` (``{id, quantity}``), requested and then received in full."""
        where = {"order_id": order_id, "location_id": catalog.location_id}
        created = await self.post("/admin/returns", where)
        return_id = created["return"]["id"]
        await self.post(f"/admin/returns/{return_id}/request-items", {"items": items})
        await self.post(f"/admin/returns/{return_id}/request", {})
        await self.receive(return_id, items)

    async def receive(self, return_id: str, items: list[dict[str, Any]]) -> None:
        """The returned ``items`` arrive at the warehouse: Medusa credits them to the order then."""
        await self.post(f"/admin/returns/{return_id}/receive", {})
        await self.post(f"/admin/returns/{return_id}/receive-items", {"items": items})
        await self.post(f"/admin/returns/{return_id}/receive/confirm", {})

    async def exchange(
        self, order_id: str, catalog: Catalog, inbound: list[dict[str, Any]], outbound: list[dict[str, Any]]
    ) -> None:
        """An exchange: ``inbound`` items (``{id, quantity}``) come back, ``outbound`` ones
        (``{variant_id, quantity}``) go out with the catalog's shipping option; then it is requested and the
        inbound items are received (Medusa charges the outbound items at once, credits the inbound ones only
        when they arrive, and sets the order's unpaid collection to the difference then)."""
        created = await self.post("/admin/exchanges", {"order_id": order_id})
        exchange_id = created["exchange"]["id"]
        await self.post(
            f"/admin/exchanges/{exchange_id}/inbound/items",
            {"items": inbound, "location_id": catalog.location_id},
        )
        await self.post(f"/admin/exchanges/{exchange_id}/outbound/items", {"items": outbound})
        await self.post(
            f"/admin/exchanges/{exchange_id}/outbound/shipping-method",
            {"shipping_option_id": catalog.shipping_option_id, "custom_amount": 0},
        )
        await self.post(f"/admin/exchanges/{exchange_id}/request", {})
        exchange = (await self.get(f"/admin/exchanges/{exchange_id}", fields="id,return_id"))["exchange"]
        await self.receive(exchange["return_id"], inbound)

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class Checkout:
    """One shopper's cart, ready to pay: items, addresses, shipping, and a netvalve payment session."""

    cart_id: str
    total: Decimal
    payment_collection_id: str
    payment_session_id: str
    # Medusa's account holder (``acchld_…``) of a signed-in customer, from the session's context.
    account_holder_id: str | None = None


class Storefront:
    def __init__(self, base_url: str, catalog: Catalog) -> None:
        self.catalog = catalog
        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=60, headers={"x-publishable-api-key": catalog.publishable_key}
        )
        self._shoppers = 0
        self.customer_id: str | None = None
        self.email: str | None = None

    @classmethod
    async def signed_up(cls, base_url: str, catalog: Catalog, email: str, password: str) -> Storefront:
        """A shopper who registers (Medusa's emailpass auth, then ``POST /store/customers``) and signs in:
        the client then carries the customer's token, so its carts and payment sessions are the customer's."""
        shop = cls(base_url, catalog)
        credentials = {"email": email, "password": password}
        registered = ok(await shop.client.post("/auth/customer/emailpass/register", json=credentials))
        customer = ok(
            await shop.client.post(
                "/store/customers",
                json={"email": email, "first_name": "Ada", "last_name": "Saver"},
                headers={"authorization": f"Bearer {registered['token']}"},
            )
        )["customer"]
        assert customer["has_account"] is True, customer
        signed_in = ok(await shop.client.post("/auth/customer/emailpass", json=credentials))
        shop.client.headers["authorization"] = f"Bearer {signed_in['token']}"
        shop.customer_id, shop.email = customer["id"], email
        return shop

    async def payment_methods(self, account_holder_id: str) -> httpx.Response:
        """The signed-in customer's saved payment methods (the application's store route)."""
        return await self.client.get(f"/store/payment-methods/{account_holder_id}")

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(await self.client.post(path, json=payload))

    async def checkout(self, quantity: int = 2, promo_code: str | None = None) -> Checkout:
        self._shoppers += 1
        cart = (
            await self.post(
                "/store/carts",
                {
                    "region_id": self.catalog.region_id,
                    "sales_channel_id": self.catalog.sales_channel_id,
                    "email": self.email or f"shopper{self._shoppers}@test.local",
                },
            )
        )["cart"]
        cart_id = cart["id"]
        await self.post(
            f"/store/carts/{cart_id}/line-items",
            {"variant_id": self.catalog.variant_id, "quantity": quantity},
        )
        address = {**ADDRESS, "country_code": self.catalog.country}
        await self.post(f"/store/carts/{cart_id}", {"shipping_address": address, "billing_address": address})
        await self.post(
            f"/store/carts/{cart_id}/shipping-methods", {"option_id": self.catalog.shipping_option_id}
        )
        if promo_code is not None:
            await self.post(f"/store/carts/{cart_id}/promotions", {"promo_codes": [promo_code]})
        return await self.payment_session(cart_id)

    async def payment_session(self, cart_id: str) -> Checkout:
        """A netvalve payment session on the cart's payment collection (a new one replaces the old)."""
        cart = (await self.post("/store/payment-collections", {"cart_id": cart_id}))["payment_collection"]
        collection = (
            await self.post(
                f"/store/payment-collections/{cart['id']}/payment-sessions", {"provider_id": PROVIDER_ID}
            )
        )["payment_collection"]
        sessions = [s for s in collection["payment_sessions"] if s["provider_id"] == PROVIDER_ID]
        assert len(sessions) == 1, collection
        holder = (sessions[0].get("context") or {}).get("account_holder") or {}
        return Checkout(
            cart_id=cart_id,
            total=Decimal(collection["amount"]),
            payment_collection_id=collection["id"],
            payment_session_id=sessions[0]["id"],
            account_holder_id=holder.get("id"),
        )

    async def collection_session(self, payment_collection_id: str) -> str:
        """A netvalve payment session on a collection that has no cart (an order edit's, an exchange's), as
        the payment-link page makes it; its id."""
        collection = (
            await self.post(
                f"/store/payment-collections/{payment_collection_id}/payment-sessions",
                {"provider_id": PROVIDER_ID},
            )
        )["payment_collection"]
        sessions = [s for s in collection["payment_sessions"] if s["provider_id"] == PROVIDER_ID]
        assert len(sessions) == 1, collection
        session_id: str = sessions[0]["id"]
        return session_id

    async def complete(self, cart_id: str) -> httpx.Response:
        return await self.client.post(f"/store/carts/{cart_id}/complete", json={})

    async def cart(self, cart_id: str) -> dict[str, Any]:
        cart: dict[str, Any] = ok(await self.client.get(f"/store/carts/{cart_id}"))["cart"]
        return cart

    async def aclose(self) -> None:
        await self.client.aclose()
