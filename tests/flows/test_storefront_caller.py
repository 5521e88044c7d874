"""What a storefront caller (a publishable key every shopper holds) may not do (issue "Hostile traffic")."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from decimal import Decimal

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select, text

from app.models import Payment
from devtools.medusa_rows import create_publishable_key
from tests.support.scripted import Script, answered_pending
from tests.support.stack import OpenScripted, Stack, open_stack

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


async def test_a_get_never_opens_a_hosted_page_order(hosted: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """A GET is a look-up: the hosted page order (a payment intent in the ledger) takes a POST."""
    stack = hosted
    cart = await stack.cart()
    with caplog.at_level(logging.WARNING):
        got = await stack.client.get(
            f"{API}/hpf/session", params={"cart_id": cart.cart_id}, headers=stack.storefront
        )
    assert got.status_code == 200, got.text
    assert got.json()["flow"] == "hpf"
    [logged] = [r for r in caplog.records if r.__dict__.get("diagnostic")]
    assert {"step": "hpp_order", "outcome": "post_only", "detail": None} in logged.diagnostic
    async with stack.app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 0

    posted = await stack.client.post(
        f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["flow"] == "hpp"


def _refused(code: str, message: str) -> Script:
    """NetValve refuses the sale's card data as it stands (a 400 validation array)."""

    async def script(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
        return httpx.Response(400, json=[{"responseCode": code, "responseMessage": message}])

    return script


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("GTW_2034", "Validation error for field = cardNumber  Message:- Card Number Invalid."),
        ("GTW_2066", "Validation error for field = cardExpireYear  Message:- Card Expiry Year Invalid."),
    ],
)
async def test_a_storefront_hears_no_netvalve_code_or_message_the_service_key_does(
    scripted: OpenScripted, code: str, message: str
) -> None:
    stack, transport = await scripted(netvalve_max_retries=0)
    cart = await stack.cart()
    token = await stack.token_for(cart)
    transport.once("/sale", _refused(code, message))

    paid = await stack.pay(cart, token)

    assert paid.status_code == 502, paid.text
    error = paid.json()["error"]
    assert error["code"] == "gateway_rejected"
    assert code not in paid.text, paid.text
    assert "Invalid" not in paid.text, paid.text
    assert error["details"] is None
    backend = await stack.client.get(f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.service)
    assert backend.json()["response_code"] == code


async def test_the_hpf_session_diagnostic_is_logged_not_answered(
    hosted: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    cart = await hosted.cart()
    with caplog.at_level(logging.WARNING):
        got = await hosted.client.get(
            f"{API}/hpf/session", params={"cart_id": cart.cart_id}, headers=hosted.storefront
        )
    assert got.status_code == 200, got.text
    assert "diagnostic" not in got.json()
    assert "initialize_session" not in got.text
    [logged] = [r for r in caplog.records if r.__dict__.get("diagnostic")]
    assert ("initialize_session", "unavailable") in [(d["step"], d["outcome"]) for d in logged.diagnostic]


async def test_the_unavailable_hpf_session_names_no_step_to_the_storefront(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(
        db,
        nv_http,
        medusa_conn,
        netvalve_environment="production",
        netvalve_max_retries=0,
        netvalve_hpp_fallback_enabled=False,
    ):
        await stack.knobs(fault="html502", fault_paths=["/hpf/initializeSession"])
        cart = await stack.cart()
        failed = await stack.client.post(
            f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=stack.storefront
        )
        assert failed.status_code == 502, failed.text
        assert failed.json()["error"]["code"] == "hpf_session_unavailable"
        assert failed.json()["error"]["details"] is None
        assert "diagnostic" not in failed.text


async def test_answers_carrying_a_payment_token_are_never_cached(stack: Stack) -> None:
    cart = await stack.cart()
    posted = await stack.client.post(
        f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    got = await stack.client.get(
        f"{API}/hpf/session", params={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    for answer in (posted, got):
        assert answer.status_code == 200, answer.text
        assert answer.json()["hpf"]["payment_token"]
        assert answer.headers.get("cache-control") == "no-store"
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    assert paid.headers.get("cache-control") == "no-store"


async def test_status_with_a_key_of_another_sales_channel_is_404(stack: Stack) -> None:
    cart = await stack.cart(sales_channel_id="sc_eu")
    shop = replace(
        stack, publishable_key=await create_publishable_key(stack.conn, sales_channel_ids=("sc_eu",))
    )
    own = shop.storefront
    other = {"x-publishable-api-key": await create_publishable_key(stack.conn, sales_channel_ids=("sc_us",))}
    assert (await shop.pay(cart, await shop.token_for(cart))).status_code == 200

    for params in ({"cart_id": cart.cart_id}, {"payment_session_id": cart.payment_session_id}):
        refused = await stack.client.get(f"{API}/status", params=params, headers=other)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "payment_not_found"
        allowed = await stack.client.get(f"{API}/status", params=params, headers=own)
        assert allowed.json() == {"status": "captured", "source": "ledger"}


async def test_a_storefront_amount_mismatch_shows_no_amounts(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("10.00"))
    assert (await stack.pay(cart, await stack.token_for(cart))).status_code == 200
    await stack.conn.execute(
        """UPDATE payment_session SET amount = 30, raw_amount = '{"value": "30", "precision": 20}'
           WHERE id = $1""",
        cart.payment_session_id,
    )
    params = {"cart_id": cart.cart_id}

    storefront = await stack.client.get(f"{API}/status", params=params, headers=stack.storefront)
    assert storefront.status_code == 409, storefront.text
    assert storefront.json()["error"]["code"] == "payment_amount_mismatch"
    assert storefront.json()["error"]["details"] is None, storefront.text
    again = await stack.pay(cart, "another-token")
    assert again.status_code == 409, again.text
    assert again.json()["error"]["details"] is None, again.text
    backend = await stack.client.get(f"{API}/status", params=params, headers=stack.service)
    assert backend.status_code == 409
    assert backend.json()["error"]["details"] == {"ledger_amount": "10", "medusa_amount": "30"}


@dataclass
class CountingTransport(httpx.AsyncBaseTransport):
    """NetValve that takes the sale, then cannot be reached for any look-up (so the payment stays open)."""

    inner: httpx.AsyncBaseTransport
    lookups: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/sale", "/hpf/initializeSession"):
            return await self.inner.handle_async_request(request)
        self.lookups.append(request.url.path)
        return httpx.Response(503, text="unavailable")


@pytest.mark.parametrize(("interval", "expected_lookups"), [(None, 1), (0, 3)])
async def test_storefront_polling_asks_netvalve_at_most_once_per_payment_per_interval(
    scripted: OpenScripted, interval: int | None, expected_lookups: int
) -> None:
    overrides = {} if interval is None else {"storefront_status_lookup_interval_seconds": interval}
    stack, transport = await scripted(netvalve_max_retries=0, **overrides)
    counting = transport.inner = CountingTransport(transport.inner)
    cart = await stack.cart()
    transport.once("/sale", answered_pending())
    assert (await stack.pay(cart, await stack.token_for(cart))).status_code == 202

    for _ in range(3):
        polled = await stack.client.get(
            f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.storefront
        )
        assert polled.json() == {"status": "pending", "source": "ledger"}, polled.text

    assert len(counting.lookups) == expected_lookups, counting.lookups
    # The service key is not throttled: it asks NetValve every time.
    await stack.client.get(f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.service)
    assert len(counting.lookups) == expected_lookups + 1, counting.lookups
