"""Publishable keys: checked for format and length before any query, remembered in a bounded cache keyed by
a hash, authenticated before the body is read, with the key's sales channels on the caller; and request
headers and bodies bounded before anything parses them."""

from __future__ import annotations

import gc
import json
import secrets
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from app.api.auth import (
    authenticated_routes,
    require_service_key,
    require_service_or_storefront,
    require_storefront,
)
from app.api.v1.endpoints.netvalve.router import PREFIX, ROUTERS
from app.core.security import Caller, CallerKind, PublishableKeyCache
from app.main import create_app
from devtools.medusa_rows import create_api_key, new_id
from tests.conftest import make_settings, start_app

PAYMENT = "/api/v1/netvalve/payment"
STATUS = "/api/v1/netvalve/status"


async def link_sales_channel(
    conn: asyncpg.Connection, token: str, sales_channel_id: str, *, deleted: bool = False
) -> None:
    await conn.execute(
        """
        INSERT INTO publishable_api_key_sales_channel (publishable_key_id, sales_channel_id, id, deleted_at)
        SELECT id, $2, $3, CASE WHEN $4 THEN now() END FROM api_key WHERE token = $1
        """,
        token,
        sales_channel_id,
        new_id("pksc"),
        deleted,
    )


def pay_body() -> dict[str, Any]:
    return {"cart_id": new_id("cart"), "payment_session_id": new_id("payses"), "payment_token": "tok-1"}


class App:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def cache(self) -> PublishableKeyCache:
        cache: PublishableKeyCache = self.app.state.publishable_key_cache
        return cache

    async def close_medusa(self) -> None:
        """From here on, any query on Medusa's database fails (a 503), so an answer proves there was none."""
        await self.app.state.medusa_pool.close()

    async def caller(self, token: str) -> Caller:
        scope = {
            "type": "http",
            "app": self.app,
            "method": "GET",
            "path": "/",
            "query_string": b"",
            "headers": [(b"x-publishable-api-key", token.encode())],
        }
        return await require_storefront(Request(scope))


async def open_app(db: str, **overrides: Any) -> AsyncIterator[App]:
    app = create_app(make_settings(db, **overrides))
    async for client in start_app(app):
        yield App(app, client)


@pytest.fixture
async def service(db: str) -> AsyncIterator[App]:
    async for opened in open_app(db):
        yield opened


async def test_the_caller_carries_the_keys_live_sales_channels(
    service: App, medusa_conn: asyncpg.Connection
) -> None:
    token = await create_api_key(medusa_conn)
    await link_sales_channel(medusa_conn, token, "sc_web")
    await link_sales_channel(medusa_conn, token, "sc_app")
    await link_sales_channel(medusa_conn, token, "sc_retired", deleted=True)
    key_id = await medusa_conn.fetchval("SELECT id FROM api_key WHERE token = $1", token)

    caller = await service.caller(token)

    assert caller == Caller(CallerKind.STOREFRONT, key_id, frozenset({"sc_web", "sc_app"}))
    assert caller.may_use_sales_channel("sc_web")
    assert not caller.may_use_sales_channel("sc_retired")
    assert not caller.may_use_sales_channel(None)


async def test_a_key_of_another_channel_may_not_use_this_channels_cart(
    service: App, medusa_conn: asyncpg.Connection
) -> None:
    ours = await create_api_key(medusa_conn, title="EU shop")
    theirs = await create_api_key(medusa_conn, title="US shop")
    await link_sales_channel(medusa_conn, ours, "sc_eu")
    await link_sales_channel(medusa_conn, theirs, "sc_us")
    cart_channel = "sc_eu"

    assert (await service.caller(ours)).may_use_sales_channel(cart_channel)
    assert not (await service.caller(theirs)).may_use_sales_channel(cart_channel)
    # A key linked to no channel at all may use no cart.
    unlinked = await create_api_key(medusa_conn, title="Nothing")
    assert not (await service.caller(unlinked)).may_use_sales_channel(cart_channel)
    # Service keys and STOREFRONT_AUTH=none are not bound to channels.
    assert Caller(CallerKind.SERVICE, "service").may_use_sales_channel(cart_channel)


@pytest.mark.parametrize(
    "token",
    [
        "pk_" + "a" * 4000,
        "pk_short",
        "sk_" + secrets.token_hex(32),
        "pk_" + secrets.token_hex(31) + "<>",
        "pk_" + secrets.token_hex(32) + "\u00e9",
    ],
)
async def test_a_malformed_key_is_refused_without_a_query(service: App, token: str) -> None:
    await service.close_medusa()
    response = await service.client.get(
        STATUS, params={"cart_id": new_id("cart")}, headers={"x-publishable-api-key": token.encode("latin-1")}
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    assert len(service.cache) == 0


async def test_a_well_formed_unknown_key_is_looked_up(service: App) -> None:
    # The counterpart of the test above: the same closed database does fail a key that needs a query.
    await service.close_medusa()
    response = await service.client.get(
        STATUS,
        params={"cart_id": new_id("cart")},
        headers={"x-publishable-api-key": "pk_" + secrets.token_hex(32)},
    )
    assert response.status_code == 503


async def test_a_valid_key_is_served_from_the_cache_after_the_first_query(
    service: App, medusa_conn: asyncpg.Connection
) -> None:
    token = await create_api_key(medusa_conn)
    unknown = "pk_" + secrets.token_hex(32)
    headers = {"x-publishable-api-key": token}
    params = {"cart_id": new_id("cart")}
    first = await service.client.get(STATUS, params=params, headers=headers)
    refused = await service.client.get(STATUS, params=params, headers={"x-publishable-api-key": unknown})
    await service.close_medusa()
    again = await service.client.get(STATUS, params=params, headers=headers)
    refused_again = await service.client.get(
        STATUS, params=params, headers={"x-publishable-api-key": unknown}
    )

    assert first.status_code == again.status_code == 404, (first.text, again.text)
    assert refused.status_code == refused_again.status_code == 403
    assert len(service.cache) == 2


def test_the_cache_is_bounded_and_keyed_by_a_hash() -> None:
    cache = PublishableKeyCache(ttl_seconds=60, max_entries=2)
    callers = {f"pk_{n:064x}": Caller(CallerKind.STOREFRONT, f"apk_{n}") for n in range(3)}
    tokens = list(callers)
    cache.put(tokens[0], callers[tokens[0]])
    cache.put(tokens[1], callers[tokens[1]])
    assert cache.get(tokens[0]) == (True, callers[tokens[0]])  # now the most recently used
    cache.put(tokens[2], callers[tokens[2]])

    assert len(cache) == 2
    assert cache.get(tokens[1]) == (False, None)
    assert cache.get(tokens[0])[0]
    assert cache.get(tokens[2])[0]
    stored = repr(vars(cache)) if hasattr(cache, "__dict__") else ""
    assert not any(token in stored for token in tokens)
    assert PublishableKeyCache(ttl_seconds=0, max_entries=2).get(tokens[0]) == (False, None)


async def test_a_100_kb_key_is_refused_by_the_header_limit(service: App) -> None:
    await service.close_medusa()
    response = await service.client.get(
        STATUS, params={"cart_id": new_id("cart")}, headers={"x-publishable-api-key": "pk_" + "a" * 100_000}
    )
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "headers_too_large"


async def refuse_100_kb_keys(client: httpx.AsyncClient, count: int) -> None:
    for n in range(count):
        key = "pk_" + f"{n:06d}" + "a" * 100_000
        response = await client.post(PAYMENT, json=pay_body(), headers={"x-publishable-api-key": key})
        assert response.status_code == 403


async def test_hundreds_of_100_kb_keys_leave_memory_flat(db: str) -> None:
    # Headers allowed up to 1 MB, so each key reaches the authentication itself and its format check.
    async for service in open_app(db, request_max_header_bytes=1024 * 1024):
        await service.close_medusa()
        await refuse_100_kb_keys(service.client, 20)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await refuse_100_kb_keys(service.client, 300)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # 300 keys of 100 KB are 30 MB: keeping even a few per cent of them would show.
        assert grown < 1024 * 1024, grown
        assert len(service.cache) == 0


async def test_authentication_runs_before_the_body_is_read(service: App) -> None:
    consumed: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        chunk = json.dumps(pay_body()).encode()
        consumed.append(chunk)
        yield chunk

    anonymous = await service.client.post(
        PAYMENT, content=body(), headers={"content-type": "application/json"}
    )
    assert anonymous.status_code == 401
    assert consumed == []

    await service.close_medusa()
    malformed = await service.client.post(
        PAYMENT,
        content=b"{not json",
        headers={"content-type": "application/json", "x-publishable-api-key": "pk_nope"},
    )
    assert malformed.status_code == 403  # not the 422 of a body that was parsed first


async def test_an_oversized_body_is_refused_before_it_is_parsed(service: App) -> None:
    big = json.dumps({**pay_body(), "padding": "x" * 40_000})
    declared = await service.client.post(PAYMENT, content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 8192

    # No Content-Length: counted while read. Authenticated by the service key so the body is read at all.
    streamed = await service.client.post(
        "/api/v1/netvalve/refund",
        content=chunked(),
        headers={"content-type": "application/json", "authorization": "Bearer test-service-key-0123456789"},
    )
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error"]["code"] == "payload_too_large"


def test_every_authenticated_route_is_authenticated_before_its_body() -> None:
    gated = authenticated_routes(PREFIX, ROUTERS)

    def gate(method: str, path: str) -> object:
        return next((r.authenticate for r in gated if method in r.methods and r.path.match(path)), None)

    assert gate("POST", PAYMENT) is require_storefront
    assert gate("POST", PREFIX + "/hpf/session") is require_storefront
    assert gate("GET", PREFIX + "/hpf/session") is require_storefront
    assert gate("GET", STATUS) is require_service_or_storefront
    for path in (
        "/capture",
        "/refund",
        "/cancel",
        "/reconcile",
        "/webhook/events",
        "/webhook/events/7/replay",
    ):
        method = "GET" if path == "/webhook/events" else "POST"
        assert gate(method, PREFIX + path) is require_service_key, path
    # NetValve's webhook has its own header check and reads its body itself, raw and bounded.
    assert gate("POST", PREFIX + "/webhook") is None
    assert gate("GET", PAYMENT) is None
