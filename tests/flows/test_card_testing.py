"""A storefront caller is where an attacker sits (issue "Hostile traffic"): a card tester gets no oracle,
a capped number of attempts, rate limits shared by every replica, and NetValve sees the real address."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import func, select

from app.models import GatewayTransaction, RateLimitHit
from devtools.medusa_rows import new_id
from tests.flows.conftest import DECLINED_CARD, OpenScripted, Stack

API = "/api/v1/netvalve"
MINIMAL_PAY_ANSWER = {"cart_id", "payment_session_id", "status", "currency_code", "amount"}
PROXY = {"trusted_proxies": "127.0.0.1/32"}


def from_address(stack: Stack, address: str) -> dict[str, str]:
    # The in-process client connects from 127.0.0.1, which these tests trust as the load balancer.
    return {**stack.storefront, "x-forwarded-for": address}


async def sales_sent(stack: Stack) -> int:
    return len([t for t in await stack.sandbox_transactions() if t["type"] == "SALE"])


async def test_a_storefront_payment_answer_holds_nothing_but_the_outcome(stack: Stack) -> None:
    cart = await stack.cart()
    waiting = await stack.client.post(
        f"{API}/payment", json={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert waiting.status_code == 200, waiting.text
    assert set(waiting.json()) == MINIMAL_PAY_ANSWER

    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    assert set(paid.json()) == MINIMAL_PAY_ANSWER
    assert paid.json()["status"] == "captured"


async def test_a_decline_tells_the_storefront_only_that_the_card_was_declined(stack: Stack) -> None:
    cart = await stack.cart()
    declined = await stack.pay(cart, await stack.token_for(cart, DECLINED_CARD))

    assert declined.status_code == 402, declined.text
    error = declined.json()["error"]
    assert error["code"] == "card_declined"
    assert "details" not in error or not error["details"]
    assert "BNK" not in declined.text
    backend = await stack.client.get(f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.service)
    assert backend.json()["response_code"] == "BNK_2005"


async def test_netvalve_sees_the_address_the_trusted_proxies_vouch_for(scripted: OpenScripted) -> None:
    stack, transport = await scripted(**PROXY)
    seen: list[str | None] = []

    async def record(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
        seen.append(json.loads(request.content).get("customerIp"))
        response = await inner.handle_async_request(request)
        await response.aread()
        return response

    transport.once("/sale", record)
    cart = await stack.cart()
    token = await stack.token_for(cart)
    # The client wrote the first hop itself; our proxy appended the address it saw.
    headers = from_address(stack, "10.1.2.3, 198.51.100.23")

    lying = await stack.client.post(
        f"{API}/payment",
        json={"cart_id": cart.cart_id, "payment_token": token, "customer_ip": "10.1.2.3"},
        headers=headers,
    )
    assert lying.status_code == 422, lying.text
    paid = await stack.client.post(
        f"{API}/payment", json={"cart_id": cart.cart_id, "payment_token": token}, headers=headers
    )
    assert paid.status_code == 200, paid.text
    assert seen == ["198.51.100.23"]


async def test_payment_attempts_are_capped_per_payment_session(scripted: OpenScripted) -> None:
    stack, _ = await scripted(payment_attempts_per_session=2, payment_attempts_per_cart=10)
    cart = await stack.cart()
    for _ in range(2):
        declined = await stack.pay(cart, await stack.token_for(cart, DECLINED_CARD))
        assert declined.status_code == 402, declined.text

    refused = await stack.pay(cart, await stack.token_for(cart))

    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "payment_attempts_exceeded"
    assert refused.json()["error"]["details"] == {"per": "payment_session", "limit": 2}
    assert await sales_sent(stack) == 2


async def test_payment_attempts_are_capped_per_cart_across_its_sessions(scripted: OpenScripted) -> None:
    """A storefront may open new payment sessions at will: the cart's own cap still holds."""
    stack, _ = await scripted(payment_attempts_per_session=1, payment_attempts_per_cart=2)
    cart = await stack.cart()
    assert (await stack.pay(cart, await stack.token_for(cart, DECLINED_CARD))).status_code == 402

    async def new_session() -> None:
        await stack.conn.execute(
            "UPDATE payment_session SET deleted_at = now() WHERE payment_collection_id = $1",
            cart.payment_collection_id,
        )
        await stack.conn.execute(
            "INSERT INTO payment_session (id, currency_code, amount, raw_amount, provider_id, data, context,"
            " status, payment_collection_id, created_at, updated_at)"
            " SELECT $1, currency_code, amount, raw_amount, provider_id, '{}', '{}', 'pending',"
            " payment_collection_id, now(), now() FROM payment_session WHERE id = $2",
            new_id("payses"),
            cart.payment_session_id,
        )

    await new_session()
    assert (await stack.pay(cart, await stack.token_for(cart, DECLINED_CARD))).status_code == 402
    await new_session()

    refused = await stack.pay(cart, await stack.token_for(cart))

    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["details"] == {"per": "cart", "limit": 2}
    assert await sales_sent(stack) == 2


async def test_an_address_over_its_rate_limit_gets_429_with_retry_after(scripted: OpenScripted) -> None:
    stack, _ = await scripted(storefront_rate_limit_per_address=3, **PROXY)
    cart = await stack.cart()

    async def status(headers: dict[str, str]) -> httpx.Response:
        return await stack.client.get(f"{API}/status", params={"cart_id": cart.cart_id}, headers=headers)

    for _ in range(3):
        assert (await status(from_address(stack, "198.51.100.1"))).status_code == 404
    limited = await status(from_address(stack, "198.51.100.1"))

    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.json()["error"]["details"] == {"per": "address"}
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert (await status(from_address(stack, "198.51.100.2"))).status_code == 404
    assert (await status({**stack.service, "x-forwarded-for": "198.51.100.1"})).status_code == 404


async def test_a_publishable_key_over_its_rate_limit_is_refused_whatever_the_address(
    scripted: OpenScripted,
) -> None:
    stack, _ = await scripted(storefront_rate_limit_per_key=2, **PROXY)
    cart = await stack.cart()
    for address in ("198.51.100.1", "198.51.100.2"):
        ok = await stack.client.get(
            f"{API}/status", params={"cart_id": cart.cart_id}, headers=from_address(stack, address)
        )
        assert ok.status_code == 404, ok.text
    limited = await stack.client.get(
        f"{API}/status", params={"cart_id": cart.cart_id}, headers=from_address(stack, "198.51.100.3")
    )
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["details"] == {"per": "publishable_key"}


async def test_payments_from_one_address_are_limited_before_netvalve_hears_of_them(
    scripted: OpenScripted,
) -> None:
    stack, _ = await scripted(storefront_payment_rate_limit_per_address=1, **PROXY)
    first, second = await stack.cart(), await stack.cart()
    tokens = [await stack.token_for(first), await stack.token_for(second)]
    headers = from_address(stack, "198.51.100.9")

    paid = await stack.client.post(
        f"{API}/payment", json={"cart_id": first.cart_id, "payment_token": tokens[0]}, headers=headers
    )
    limited = await stack.client.post(
        f"{API}/payment", json={"cart_id": second.cart_id, "payment_token": tokens[1]}, headers=headers
    )

    assert paid.status_code == 200, paid.text
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["details"] == {"per": "address_payments"}
    assert await sales_sent(stack) == 1
    async with stack.app.state.sessionmaker() as db:
        calls = await db.scalar(select(func.count()).select_from(GatewayTransaction))
    assert calls == 1


async def test_replicas_share_one_count(scripted: OpenScripted) -> None:
    """Two processes on one database: a limit is the service's, not each replica's."""
    one, _ = await scripted(storefront_rate_limit_per_address=2, **PROXY)
    two, _ = await scripted(storefront_rate_limit_per_address=2, **PROXY)
    two.publishable_key = one.publishable_key
    cart = await one.cart()
    answers = []
    for replica in (one, two, one):
        response = await replica.client.get(
            f"{API}/status", params={"cart_id": cart.cart_id}, headers=from_address(replica, "198.51.100.4")
        )
        answers.append(response.status_code)
    assert answers == [404, 404, 429]
    async with one.app.state.sessionmaker() as db:
        hits = await db.scalar(
            select(func.sum(RateLimitHit.hits)).where(RateLimitHit.bucket == "address:198.51.100.4")
        )
    assert hits == 3
