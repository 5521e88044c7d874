"""What the end-to-end tests do and check: a shopper paying through the service and the sandbox's hosted
fields, and the three ledgers (Medusa's order, the service's, the sandbox's) read side by side."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from app.core.money import from_minor, round_to_minor
from tests.conftest import SERVICE_KEY
from tests.medusa_e2e.medusa_api import Admin, Catalog, Checkout, MedusaOrder, Storefront, body
from tests.medusa_e2e.stack import E2EStack

APPROVED_CARD = "4012000098765439"
OTHER_APPROVED_CARD = "6011000993026909"
DECLINED_CARD = "4532802195368940"
APPROVED = "GTW_1000"
ZERO = Decimal(0)
WAIT_SECONDS = 60.0


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], what: str, seconds: float = WAIT_SECONDS
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not reached within {seconds:.0f}s")


@dataclass(frozen=True)
class SandboxAmounts:
    """What the sandbox's own ledger holds for one payment (its root transaction and every descendant)."""

    kind: str
    amount: Decimal
    captured: Decimal
    refunded: Decimal
    canceled: Decimal
    refunds: list[Decimal]


@dataclass
class E2E:
    stack: E2EStack
    admin: Admin
    shop: Storefront
    service: httpx.AsyncClient
    nv: httpx.AsyncClient
    catalog: Catalog

    def storefront_headers(self, key: str | None = None) -> dict[str, str]:
        """The storefront's publishable key: the seeded catalog's, or ``key`` of another catalog."""
        return {"x-publishable-api-key": key or self.catalog.publishable_key}

    async def hpf_token(self, checkout: Checkout, card: str, key: str | None = None) -> str:
        """What the checkout page does: a hosted-fields session from the service, the card typed into
        NetValve's fields (the sandbox's tokenize hook stands in for its iframes)."""
        session = await self.service.post(
            "/api/v1/netvalve/hpf/session",
            json={"cart_id": checkout.cart_id, "payment_session_id": checkout.payment_session_id},
            headers=self.storefront_headers(key),
        )
        assert session.status_code == 200, session.text
        answer = body(session)
        assert answer["flow"] == "hpf", answer
        assert Decimal(answer["amount"]) == charged(checkout.total), answer
        token: str = answer["hpf"]["payment_token"]
        card_fields = {"cardNumber": card, "expiryMonth": "12", "expiryYear": "2030", "cvv": "123"}
        tokenized = await self.nv.post("/_sandbox/tokenize", json={"paymentToken": token, **card_fields})
        assert tokenized.status_code == 200, tokenized.text
        return token

    async def pay(
        self,
        checkout: Checkout,
        card: str = APPROVED_CARD,
        key: str | None = None,
        save_card: bool = False,
    ) -> dict[str, Any]:
        """The service's ``/payment`` with a card tokenized in the hosted fields (saved for the customer with
        ``save_card``); an approved answer."""
        response = await self.attempt(checkout, card, key, save_card=save_card)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = body(response)
        return answer

    async def attempt(
        self, checkout: Checkout, card: str, key: str | None = None, save_card: bool = False
    ) -> httpx.Response:
        token = await self.hpf_token(checkout, card, key)
        payment: dict[str, Any] = {
            "cart_id": checkout.cart_id,
            "payment_session_id": checkout.payment_session_id,
            "payment_token": token,
        }
        if save_card:
            payment["save_card"] = True
        return await self.service.post(
            "/api/v1/netvalve/payment", json=payment, headers=self.storefront_headers(key)
        )

    async def pay_with_saved_card(self, checkout: Checkout, saved_card_id: str) -> httpx.Response:
        """What the checkout page sends for a saved card the signed-in customer picked: no card fields."""
        return await self.service.post(
            "/api/v1/netvalve/payment",
            json={
                "cart_id": checkout.cart_id,
                "payment_session_id": checkout.payment_session_id,
                "saved_card_id": saved_card_id,
            },
            headers={**self.storefront_headers(), "Idempotency-Key": f"pay-{checkout.payment_session_id}"},
        )

    async def merchant_charge(
        self, saved_card_id: str, payment_collection_id: str, idempotency_key: str
    ) -> httpx.Response:
        """The merchant's charge of a saved card for a collection, the customer absent (service key)."""
        return await self.service.post(
            f"/api/v1/netvalve/saved-cards/{saved_card_id}/charges",
            json={"payment_collection_id": payment_collection_id},
            headers={"authorization": f"Bearer {SERVICE_KEY}", "Idempotency-Key": idempotency_key},
        )

    async def account_holders_of(self, customer_id: str) -> list[str]:
        """Medusa's account holders linked to a customer, from its link table (a test oracle)."""
        conn = await asyncpg.connect(self.stack.medusa_dsn)
        try:
            rows = await conn.fetch(
                "SELECT account_holder_id FROM customer_account_holder"
                " WHERE customer_id = $1 AND deleted_at IS NULL",
                customer_id,
            )
        finally:
            await conn.close()
        return [row["account_holder_id"] for row in rows]

    async def pay_collection(
        self, payment_collection_id: str, payment_session_id: str, card: str = APPROVED_CARD
    ) -> httpx.Response:
        """What the payment-link page does for a collection without a cart (an order edit's, an exchange's):
        a hosted-fields session for the collection, the card typed into the fields, ``/payment``."""
        ids = {"payment_collection_id": payment_collection_id, "payment_session_id": payment_session_id}
        session = await self.service.post(
            "/api/v1/netvalve/hpf/session", json=ids, headers=self.storefront_headers()
        )
        assert session.status_code == 200, session.text
        token: str = body(session)["hpf"]["payment_token"]
        card_fields = {"cardNumber": card, "expiryMonth": "12", "expiryYear": "2030", "cvv": "123"}
        tokenized = await self.nv.post("/_sandbox/tokenize", json={"paymentToken": token, **card_fields})
        assert tokenized.status_code == 200, tokenized.text
        return await self.service.post(
            "/api/v1/netvalve/payment",
            json={**ids, "payment_token": token},
            headers=self.storefront_headers(),
        )

    async def status_of_session(self, payment_session_id: str) -> dict[str, Any]:
        """The service's ledger for a payment session (a cart's or a collection's), as the backend sees it."""
        response = await self.service.get(
            "/api/v1/netvalve/status",
            params={"payment_session_id": payment_session_id},
            headers={"authorization": f"Bearer {SERVICE_KEY}"},
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = body(response)
        return answer

    async def complete(self, checkout: Checkout, shop: Storefront | None = None) -> MedusaOrder:
        """``POST /store/carts/{id}/complete`` as the storefront does once the service said paid."""
        response = await (shop or self.shop).complete(checkout.cart_id)
        answer = body(response)
        assert response.status_code == 200, response.text
        assert answer.get("type") == "order", response.text
        order = await self.admin.order(answer["order"]["id"])
        assert order.total == checkout.total
        return order

    async def status(self, checkout: Checkout) -> dict[str, Any]:
        """The service's ledger for the payment session, as the backend sees it."""
        response = await self.service.get(
            "/api/v1/netvalve/status",
            params={"payment_session_id": checkout.payment_session_id},
            headers={"authorization": f"Bearer {SERVICE_KEY}"},
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = body(response)
        return answer

    async def sandbox(self, transaction_id: int) -> SandboxAmounts:
        response = await self.nv.get("/_sandbox/transactions")
        assert response.status_code == 200, response.text
        rows = {row["transactionID"]: row for row in body(response)}
        root = rows[transaction_id]
        tree = [root]
        for row in sorted(rows.values(), key=lambda r: r["transactionID"]):
            if row["parentID"] in {member["transactionID"] for member in tree}:
                tree.append(row)

        def total(kind: str) -> list[Decimal]:
            return [
                Decimal(r["amount"]) for r in tree[1:] if r["type"] == kind and r["responseCode"] == APPROVED
            ]

        approved = root["responseCode"] == APPROVED
        captured = sum(total("CAPTURE"), ZERO)
        if root["type"] == "SALE" and approved:
            captured = Decimal(root["amount"])
        return SandboxAmounts(
            kind=root["type"] if approved else f"declined {root['type']}",
            amount=Decimal(root["amount"]),
            captured=captured,
            refunded=sum(total("REFUND"), ZERO),
            canceled=sum(total("CANCEL"), ZERO),
            refunds=total("REFUND"),
        )

    async def sandbox_attempts(self, checkout: Checkout) -> list[dict[str, Any]]:
        """The sandbox's sales and authorizations for the payment session, oldest first (the service's
        ``clientOrderId`` is ``<payment session id>-<attempt>``)."""
        response = await self.nv.get("/_sandbox/transactions")
        prefix = f"{checkout.payment_session_id}-"
        rows: list[dict[str, Any]] = body(response)
        return [r for r in rows if (r["clientOrderId"] or "").startswith(prefix) and r["parentID"] is None]

    async def order_of_cart(self, cart_id: str) -> str | None:
        """The order a cart became, if any, from Medusa's own link table (a test oracle, never written)."""
        conn = await asyncpg.connect(self.stack.medusa_dsn)
        try:
            order_id: str | None = await conn.fetchval(
                "SELECT order_id FROM order_cart WHERE cart_id = $1 AND deleted_at IS NULL", cart_id
            )
        finally:
            await conn.close()
        return order_id

    async def order_completed_by_webhook(self, checkout: Checkout) -> MedusaOrder:
        """The order Medusa makes of the cart on its own, without the storefront calling ``complete``."""

        async def ordered() -> bool:
            return await self.order_of_cart(checkout.cart_id) is not None

        await wait_until(ordered, "the webhook path completes the cart into an order")
        order_id = await self.order_of_cart(checkout.cart_id)
        assert order_id is not None
        return await self.admin.order(order_id)

    def medusa_log_count(self, text: str) -> int:
        assert self.stack.medusa is not None
        return self.stack.medusa.log.read_text(errors="replace").count(text)

    async def post_medusa_hook(self, payload: dict[str, Any], secret: str) -> httpx.Response:
        """A signed delivery to Medusa's hook route, shaped like the service's outbox sends it."""
        raw = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            "x-netvalve-timestamp": timestamp,
            "x-netvalve-signature": f"sha256={digest}",
        }
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(self.stack.hook_url, content=raw, headers=headers)

    async def assert_agree(
        self,
        checkout: Checkout,
        order: MedusaOrder,
        *,
        captured: Decimal,
        refunded: Decimal = ZERO,
        medusa_refunded: Decimal | None = None,
    ) -> None:
        """Medusa's order, the service's ledger and the sandbox hold the same amounts, to the cent: Medusa's
        exact amounts (``captured``, ``refunded``) rounded by the service's one rule are what the ledger and
        NetValve hold."""
        payment = order.payment
        status = await self.status(checkout)
        sandbox = await self.sandbox(status["netvalve_transaction_id"])
        assert checkout.total == payment.amount == Decimal(status["medusa_amount"])
        assert charged(checkout.total) == Decimal(status["amount"]) == sandbox.amount
        assert payment.payment_session_id == checkout.payment_session_id
        assert payment.captured == captured
        assert Decimal(status["captured_amount"]) == sandbox.captured == charged(captured)
        assert Decimal(status["refunded_amount"]) == sandbox.refunded == charged(refunded)
        assert payment.refunded == (refunded if medusa_refunded is None else medusa_refunded)


def charged(amount: Decimal) -> Decimal:
    """What NetValve is sent for a Medusa amount in EUR: the service's one rounding rule."""
    return from_minor(round_to_minor(amount, "EUR"), "EUR")
