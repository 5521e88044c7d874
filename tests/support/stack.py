"""The service wired to the NetValve sandbox in-process, with Medusa fixture rows in a real database: the
``Stack`` a flow, property or fuzz test drives, and the cards the sandbox knows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from app.main import create_app
from devtools.medusa_rows import CartRows, create_cart, create_publishable_key
from tests.conftest import SERVICE_KEY, make_settings, start_app
from tests.support.scripted import ScriptedTransport

APPROVED_CARD = "4012000098765439"
DECLINED_CARD = "4532802195368940"
SANDBOX_CLIENT = {"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"}


@dataclass
class Stack:
    client: httpx.AsyncClient
    nv: httpx.AsyncClient
    conn: asyncpg.Connection
    app: FastAPI
    publishable_key: str

    @property
    def storefront(self) -> dict[str, str]:
        return {"x-publishable-api-key": self.publishable_key}

    @property
    def service(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SERVICE_KEY}"}

    async def cart(self, **kwargs: Any) -> CartRows:
        return await create_cart(self.conn, **kwargs)

    async def hpf_session(self, cart: CartRows) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/netvalve/hpf/session", json={"cart_id": cart.cart_id}, headers=self.storefront
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def token_for(self, cart: CartRows, card: str = APPROVED_CARD) -> str:
        session = await self.hpf_session(cart)
        token: str = session["hpf"]["payment_token"]
        tokenized = await self.nv.post(
            "/_sandbox/tokenize",
            json={
                "paymentToken": token,
                "cardNumber": card,
                "expiryMonth": "12",
                "expiryYear": "2030",
                "cvv": "999",
            },
        )
        assert tokenized.status_code == 200, tokenized.text
        return token

    async def pay(self, cart: CartRows, token: str, **headers: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/netvalve/payment",
            json={"cart_id": cart.cart_id, "payment_token": token},
            headers={**self.storefront, **headers},
        )

    async def transaction_id(self, cart: CartRows) -> int:
        """The NetValve transaction of the cart's payment, as the service key sees it."""
        response = await self.client.get(
            "/api/v1/netvalve/status", params={"cart_id": cart.cart_id}, headers=self.service
        )
        assert response.status_code == 200, response.text
        return int(response.json()["netvalve_transaction_id"])

    async def paid_transaction(self, cart: CartRows) -> int:
        """Pay the cart with an approved card; the NetValve transaction it made."""
        paid = await self.pay(cart, await self.token_for(cart))
        assert paid.status_code == 200, paid.text
        return await self.transaction_id(cart)

    async def sandbox_transactions(self) -> list[dict[str, Any]]:
        response = await self.nv.get("/_sandbox/transactions")
        data = response.json()
        return list(data["transactions"] if isinstance(data, dict) else data)

    async def netvalve(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A call made straight to NetValve, e.g. from its back office, behind the service's back."""
        response = await self.nv.post(path, json=body, headers=SANDBOX_CLIENT)
        answer: dict[str, Any] = response.json()
        return answer

    async def knobs(self, **knobs: Any) -> None:
        response = await self.nv.put("/_sandbox/knobs", json=knobs)
        assert response.status_code == 200, response.text


async def open_stack(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection, **overrides: Any
) -> AsyncIterator[Stack]:
    app = create_app(make_settings(db, **overrides), http_client=nv_http)
    key = await create_publishable_key(medusa_conn)
    async for client in start_app(app):
        yield Stack(client=client, nv=nv_http, conn=medusa_conn, app=app, publishable_key=key)


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


OpenScripted = Callable[..., Awaitable[tuple[Stack, ScriptedTransport]]]
