"""What a storefront caller (a publishable key every shopper holds) may not do (issue "Hostile traffic")."""

from __future__ import annotations

from sqlalchemy import text

from devtools.medusa_rows import create_publishable_key
from tests.flows.conftest import Stack

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
