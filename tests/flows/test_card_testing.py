"""A storefront caller is where an attacker sits (issue "Hostile traffic"): a card tester gets no oracle,
a capped number of attempts, rate limits shared by every replica, and NetValve sees the real address."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from app.models import GatewayTransaction, RateLimitHit
from devtools.medusa_rows import CartRows, new_id
from tests.support.stack import APPROVED_CARD, DECLINED_CARD, OpenScripted, Stack
from tests.support.threeds import AUTHENTICATION_FAILED_CARD, BROWSER, FRICTIONLESS_CARD, SHOP

API = "/api/v1/netvalve"
# The payer's ids (a cart's, or a payment collection's without a cart), then the outcome.
MINIMAL_PAY_ANSWER = {
    "cart_id",
    "payment_collection_id",
    "payment_session_id",
    "status",
    "currency_code",
    "amount",
}
PROXY = {"trusted_proxies": "127.0.0.1/32"}


def from_address(stack: Stack, address: str) -> dict[str, str]:
    # The in-process client connects from 127.0.0.1, which these tests trust as the load balancer.
    return {**stack.storefront, "x-forwarded-for": address}


async def token_from(stack: Stack, cart: CartRows, address: str, card: str = APPROVED_CARD) -> str:
    """The token of an HPF session opened from ``address``, the card entered in NetValve's fields."""
    session = await stack.client.post(
        f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=from_address(stack, address)
    )
    assert session.status_code == 200, session.text
    token: str = session.json()["hpf"]["payment_token"]
    tokenized = await stack.nv.post(
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
    # An HPF session counts as a payment request too: the tokens come from other addresses.
    tokens = [
        await token_from(stack, first, "198.51.100.10"),
        await token_from(stack, second, "198.51.100.11"),
    ]
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


async def test_an_address_far_over_its_limit_does_not_stop_another_address_paying(
    scripted: OpenScripted,
) -> None:
    """Issue 21: requests refused per address used to fill the publishable key's bucket, so one address
    took checkout down for every shopper."""
    # An hour's window: 300 requests in a minute's window can straddle two windows (20 let through in each).
    stack, _ = await scripted(
        storefront_rate_limit_per_address=20,
        storefront_rate_limit_per_key=100,
        storefront_rate_limit_window_seconds=3600,
        **PROXY,
    )
    cart = await stack.cart()
    refused = 0
    for _ in range(300):
        # No X-Forwarded-For: the request is the proxy's own, from 127.0.0.1.
        flood = await stack.client.get(
            f"{API}/status", params={"cart_id": "cart_missing"}, headers=stack.storefront
        )
        refused += flood.status_code == 429
        assert flood.status_code in (404, 429), flood.text
    assert refused == 280

    shopper = from_address(stack, "127.0.0.2")
    token = await token_from(stack, cart, "127.0.0.2")
    paid = await stack.client.post(
        f"{API}/payment", json={"cart_id": cart.cart_id, "payment_token": token}, headers=shopper
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"


async def test_ipv6_clients_share_one_limit_per_64(scripted: OpenScripted) -> None:
    stack, _ = await scripted(storefront_rate_limit_per_address=1, **PROXY)

    async def status(address: str) -> httpx.Response:
        return await stack.client.get(
            f"{API}/status", params={"cart_id": "cart_missing"}, headers=from_address(stack, address)
        )

    assert (await status("2001:db8:1:2::1")).status_code == 404
    limited = await status("2001:db8:1:2:ffff::9")
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["details"] == {"per": "address"}
    assert (await status("2001:db8:1:3::1")).status_code == 404


async def test_a_hop_with_a_port_is_the_address_and_an_unreadable_hop_is_limited_as_the_proxy(
    scripted: OpenScripted,
) -> None:
    stack, _ = await scripted(storefront_rate_limit_per_address=1, **PROXY)

    async def status(forwarded_for: str) -> httpx.Response:
        return await stack.client.get(
            f"{API}/status", params={"cart_id": "cart_missing"}, headers=from_address(stack, forwarded_for)
        )

    for written, same in (("203.0.113.7:4444", "203.0.113.7"), ("[2001:db8::1]:443", "2001:db8::1")):
        assert (await status(written)).status_code == 404
        assert (await status(same)).status_code == 429
    # An unreadable hop: limited as the trusted proxy it came through (127.0.0.1), never unlimited.
    assert (await status("not-an-address")).status_code == 404
    limited = await status("also:not:an:address")
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["details"] == {"per": "address"}


async def test_hpf_sessions_count_as_payment_requests_of_their_address(scripted: OpenScripted) -> None:
    stack, _ = await scripted(storefront_payment_rate_limit_per_address=2, **PROXY)
    cart = await stack.cart()
    headers = from_address(stack, "198.51.100.30")
    for _ in range(2):
        opened = await stack.client.post(
            f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=headers
        )
        assert opened.status_code == 200, opened.text

    limited = await stack.client.get(f"{API}/hpf/session", params={"cart_id": cart.cart_id}, headers=headers)

    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["details"] == {"per": "address_payments"}


async def test_threeds_authentications_count_as_payment_attempts(scripted: OpenScripted) -> None:
    """A card tester failing 3-D Secure again and again meets the attempt caps; a shopper's authentication
    and the sale it authenticates are one attempt."""
    stack, _ = await scripted(
        netvalve_threeds="on", store_cors=SHOP, payment_attempts_per_session=2, payment_attempts_per_cart=10
    )
    cart = await stack.cart()

    async def pay_3ds(card: str) -> httpx.Response:
        token = await stack.token_for(cart, card)
        return await stack.client.post(
            f"{API}/payment",
            json={"cart_id": cart.cart_id, "payment_token": token, "browser": BROWSER},
            headers=stack.storefront,
        )

    failed = await pay_3ds(AUTHENTICATION_FAILED_CARD)
    assert failed.status_code == 402, failed.text
    paid = await pay_3ds(FRICTIONLESS_CARD)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"

    other = await stack.cart()
    for _ in range(2):
        token = await stack.token_for(other, AUTHENTICATION_FAILED_CARD)
        answer = await stack.client.post(
            f"{API}/payment",
            json={"cart_id": other.cart_id, "payment_token": token, "browser": BROWSER},
            headers=stack.storefront,
        )
        assert answer.status_code == 402, answer.text
    token = await stack.token_for(other, AUTHENTICATION_FAILED_CARD)
    refused = await stack.client.post(
        f"{API}/payment",
        json={"cart_id": other.cart_id, "payment_token": token, "browser": BROWSER},
        headers=stack.storefront,
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["details"] == {"per": "payment_session", "limit": 2}


async def test_declines_across_carts_and_addresses_meet_a_storefront_ceiling(
    scripted: OpenScripted, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    stack, _ = await scripted(storefront_decline_ceiling=2, **PROXY)
    reached_before = REGISTRY.get_sample_value("netvalve_storefront_decline_ceiling_reached_total") or 0
    # The app's logging set-up replaced the root's handlers, caplog's among them.
    limiter_log = logging.getLogger("app.services.rate_limits")
    limiter_log.addHandler(caplog.handler)
    request.addfinalizer(lambda: limiter_log.removeHandler(caplog.handler))
    for n in range(2):
        cart = await stack.cart()
        token = await stack.token_for(cart, DECLINED_CARD)
        declined = await stack.pay(cart, token, **{"x-forwarded-for": f"198.51.100.{40 + n}"})
        assert declined.status_code == 402, declined.text
    assert any("decline ceiling" in record.getMessage() for record in caplog.records)

    cart = await stack.cart()
    token = await stack.token_for(cart)
    refused = await stack.pay(cart, token, **{"x-forwarded-for": "198.51.100.50"})

    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["details"] == {"per": "storefront_declines"}
    assert await sales_sent(stack) == 2
    reached = REGISTRY.get_sample_value("netvalve_storefront_decline_ceiling_reached_total")
    assert reached == reached_before + 1
