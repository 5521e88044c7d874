"""Saved cards in tests: a stack with the vault on, a signed-in customer's cart, and what the sandbox holds of
the gateway tokens it issued and the stored-credential fields it was sent."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.fernet import Fernet

from devtools.medusa_rows import CartRows, create_customer
from tests.support.stack import Stack

VAULT_KEY = Fernet.generate_key().decode()
VAULT = {"saved_cards_enabled": True, "saved_cards_encryption_keys": VAULT_KEY}
# What NetValve's CIT/MIT guide asks of each kind of stored-credential payment (app/gateway/cardonfile.py).
INITIAL_CIT = {
    "requestTransactionType": "RECURRING",
    "recurringScheduleType": "CIT_COF",
    "recurrenceMode": "Initial",
}
CUSTOMER_CIT = {"credentialOnFileTransaction": "CIT", "requestTransactionType": "ECOMMERCE"}
MERCHANT_MIT = {
    "requestTransactionType": "RECURRING",
    "recurringScheduleType": "MIT_UNSCHEDULED_COF",
    "recurrenceMode": "Repeated",
}


async def signed_in(stack: Stack, cart: CartRows, email: str = "member@example.com") -> str:
    """Make the cart a registered customer's (Medusa's ``has_account``); the customer's id."""
    customer_id = await create_customer(stack.conn, email=email, has_account=True)
    await stack.conn.execute("UPDATE cart SET customer_id = $1 WHERE id = $2", customer_id, cart.cart_id)
    return customer_id


async def sandbox_tokens(stack: Stack) -> list[dict[str, Any]]:
    response = await stack.nv.get("/_sandbox/tokens")
    assert response.status_code == 200, response.text
    tokens: list[dict[str, Any]] = response.json()
    return tokens


async def sale_of_cart(stack: Stack, cart: CartRows) -> dict[str, Any]:
    """The sandbox's row of the cart's (one) sale."""
    prefix = f"{cart.payment_session_id}-"
    [sale] = [
        t
        for t in await stack.sandbox_transactions()
        if t["type"] in ("SALE", "AUTHORIZATION") and t["clientOrderId"].startswith(prefix)
    ]
    return sale


async def issued_token(stack: Stack, cart: CartRows) -> str:
    """The gateway token the sandbox issued with the cart's sale."""
    sale = await sale_of_cart(stack, cart)
    [issued] = [t for t in await sandbox_tokens(stack) if t["transactionID"] == sale["transactionID"]]
    token: str = issued["paymentToken"]
    return token


async def pay(stack: Stack, cart: CartRows, **fields: Any) -> httpx.Response:
    return await stack.client.post(
        "/api/v1/netvalve/payment", json={"cart_id": cart.cart_id, **fields}, headers=stack.storefront
    )
