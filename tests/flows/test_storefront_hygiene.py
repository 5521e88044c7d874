"""What a storefront caller (a publishable key every shopper holds) may not do (issue "Hostile traffic")."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select, text

from app.models import Payment
from devtools.medusa_rows import create_publishable_key
from tests.flows.conftest import OpenScripted, Stack

API = "/api/v1/netvalve"


async def test_a_storefront_cannot_address_a_payment_by_netvalve_transaction_id(stack: Stack) -> None:
    cart = await stack.cart()
    txn = await stack.paid_transaction(cart)

    by_id = {"transaction_id": txn}
    guessed = await stack.client.get(f"{API}/status", params=by_id, headers=stack.storefront)
    assert guessed.status_code == 403, guessed.text
    assert guessed.json()["error"]["code"] == "transaction_id_not_allowed"
    own = await stack.client.get(f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.storefront)
    assert own.json() == {"status": "captured", "source": "ledger"}
    backend = await stack.client.get(f"{API}/status", params=by_id, headers=stack.service)
    assert backend.json()["status"] == "captured"


async def test_an_idempotency_key_is_the_callers_and_the_carts_own(stack: Stack) -> None:
    """A predictable key used first by someone else, for another cart or with another key, blocks nothing."""
    first, second = await stack.cart(), await stack.cart()
    other_key = {"x-publishable-api-key": await create_publishable_key(stack.conn)}
    key = {"Idempotency-Key": "checkout"}

    paid = await stack.pay(first, await stack.token_for(first), **key)
    assert paid.status_code == 200, paid.text
    another_cart = await stack.pay(second, await stack.token_for(second), **key)
    assert another_cart.status_code == 200, another_cart.text
    assert another_cart.json()["cart_id"] == second.cart_id

    third = await stack.cart()
    token = await stack.token_for(third)
    other = await stack.client.post(
        f"{API}/payment",
        json={"cart_id": third.cart_id, "payment_token": token},
        headers={**other_key, **key},
    )
    assert other.status_code == 200, other.text
    assert other.json()["cart_id"] == third.cart_id


async def test_hpf_session_answers_are_never_stored(stack: Stack) -> None:
    cart = await stack.cart()
    headers = {**stack.storefront, "Idempotency-Key": "session-1"}
    sessions = [
        (
            await stack.client.post(f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=headers)
        ).json()
        for _ in range(2)
    ]
    tokens = {session["hpf"]["payment_token"] for session in sessions}
    assert len(tokens) == 2
    async with stack.app.state.sessionmaker() as db:
        stored = (await db.execute(text("SELECT count(*) FROM idempotency_keys"))).scalar_one()
    assert stored == 0


async def test_a_paid_cart_is_answered_from_the_ledger_without_a_gateway_call(scripted: OpenScripted) -> None:
    """Polling the session of a paid cart must not turn into NetValve traffic (nor a second payment)."""
    stack, transport = await scripted()
    cart = await stack.cart()
    assert (await stack.pay(cart, await stack.token_for(cart))).status_code == 200
    asked: list[str] = []

    async def record(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
        asked.append(request.method)
        return await inner.handle_async_request(request)

    transport.once("/hpf/initializeSession", record)
    transport.once("/hpf/initializeSession", record)
    posted = await stack.client.post(
        f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    got = await stack.client.get(
        f"{API}/hpf/session", params={"cart_id": cart.cart_id}, headers=stack.storefront
    )

    for answer in (posted, got):
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["code"] == "cart_already_paid"
    assert asked == []


async def test_a_get_never_opens_a_hosted_page_order(hosted: Stack) -> None:
    """A GET is a look-up: the hosted page order (a payment intent in the ledger) takes a POST."""
    stack = hosted
    cart = await stack.cart()
    got = await stack.client.get(
        f"{API}/hpf/session", params={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert got.status_code == 200, got.text
    assert got.json()["flow"] == "hpf"
    assert {"step": "hpp_order", "outcome": "post_only", "detail": None} in got.json()["diagnostic"]
    async with stack.app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 0

    posted = await stack.client.post(
        f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["flow"] == "hpp"
