"""The service wired to the in-process NetValve sandbox, with Medusa rows the fuzzer's requests can name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import httpx
import pytest

from tests.conftest import SERVICE_KEY, WEBHOOK_HEADER, WEBHOOK_SECRET
from tests.support.fixtures import nv_http, sandbox
from tests.support.stack import Stack, open_stack

__all__ = ["FuzzWorld", "fuzz_world", "nv_http", "sandbox"]


@dataclass(frozen=True)
class FuzzWorld:
    """A running service plus the identifiers that exist in it, for generated requests to reuse."""

    stack: Stack
    cart_ids: tuple[str, ...]
    payment_session_ids: tuple[str, ...]
    payment_tokens: tuple[str, ...]
    transaction_ids: tuple[int, ...]
    event_ids: tuple[int, ...]

    def valid_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {SERVICE_KEY}",
            "x-publishable-api-key": self.stack.publishable_key,
            WEBHOOK_HEADER: WEBHOOK_SECRET,
        }


async def _build_world(stack: Stack) -> FuzzWorld:
    # A cart paid through the real flow gives capture, refund, cancel and status a ledger row to act on.
    paid = await stack.cart()
    paid_token = await stack.token_for(paid)
    payment = await stack.pay(paid, paid_token)
    assert payment.status_code == 200, payment.text
    transaction_id = await stack.transaction_id(paid)

    open_cart = await stack.cart()
    open_token = await stack.token_for(open_cart)
    usd = await stack.cart(currency="usd", amount=Decimal("5.00"))
    completed = await stack.cart(completed=True)
    no_collection = await stack.cart(with_collection=False)

    delivery = await stack.client.post(
        "/api/v1/netvalve/webhook",
        json={"eventName": "transaction.updated", "transactionId": transaction_id},
        headers={WEBHOOK_HEADER: WEBHOOK_SECRET},
    )
    assert delivery.status_code == 200, delivery.text
    events = await stack.client.get(
        "/api/v1/netvalve/webhook/events", headers={"Authorization": f"Bearer {SERVICE_KEY}"}
    )
    assert events.status_code == 200, events.text

    carts = (paid, open_cart, usd, completed, no_collection)
    return FuzzWorld(
        stack=stack,
        cart_ids=tuple(cart.cart_id for cart in carts),
        payment_session_ids=tuple(cart.payment_session_id for cart in carts if cart.payment_session_id),
        payment_tokens=(open_token, paid_token),
        transaction_ids=(transaction_id,),
        event_ids=tuple(int(event["id"]) for event in events.json()["events"]),
    )


@pytest.fixture
async def fuzz_world(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> AsyncIterator[FuzzWorld]:
    async for stack in open_stack(db, nv_http, medusa_conn):
        yield await _build_world(stack)
