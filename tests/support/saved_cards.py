"""Saved cards in tests: a stack with the vault on, a signed-in customer's cart, and a first sale whose
answer carries a gateway token the sandbox knows (minted by a card sale made straight at the sandbox)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from cryptography.fernet import Fernet

from devtools.medusa_rows import CartRows, create_customer
from tests.support.scripted import Script
from tests.support.stack import APPROVED_CARD, SANDBOX_CLIENT, Stack

VAULT_KEY = Fernet.generate_key().decode()
VAULT = {"saved_cards_enabled": True, "saved_cards_encryption_keys": VAULT_KEY}


async def signed_in(stack: Stack, cart: CartRows, email: str = "member@example.com") -> str:
    """Make the cart a registered customer's (Medusa's ``has_account``); the customer's id."""
    customer_id = await create_customer(stack.conn, email=email, has_account=True)
    await stack.conn.execute("UPDATE cart SET customer_id = $1 WHERE id = $2", customer_id, cart.cart_id)
    return customer_id


async def gateway_token(stack: Stack) -> str:
    """A token the sandbox issued for a card sale made at it directly (not through the service)."""
    answer = await stack.nv.post(
        "/sale",
        json={
            "amount": "1.00",
            "currency": "EUR",
            "paymentType": "CARD",
            "siteId": "site-1",
            "cardNumber": APPROVED_CARD,
            "cardExpireMonth": "12",
            "cardExpireYear": "2030",
            "cardSecurityCode": "999",
        },
        headers=SANDBOX_CLIENT,
    )
    token: str = answer.json()["paymentToken"]
    return token


def issuing(token: str) -> Script:
    """The sale goes to the sandbox; its answer carries ``token`` as the gateway token NetValve issued."""

    async def script(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
        response = await inner.handle_async_request(request)
        await response.aread()
        body: dict[str, Any] = json.loads(response.content)
        return httpx.Response(response.status_code, json=body | {"paymentToken": token})

    return script


async def pay(stack: Stack, cart: CartRows, **fields: Any) -> httpx.Response:
    return await stack.client.post(
        "/api/v1/netvalve/payment", json={"cart_id": cart.cart_id, **fields}, headers=stack.storefront
    )
