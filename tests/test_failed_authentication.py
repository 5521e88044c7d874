"""Failed authentication costs the attacker, not the database (issue 21, item 6): unknown publishable keys
are limited per address before they cost a Medusa query, refused keys never push a real one out of the
cache, a Medusa connection is waited for only so long, and production's ``/ready`` probes the databases at
most once per ``READY_CACHE_SECONDS`` for callers without the service key."""

from __future__ import annotations

import asyncio
import secrets
import time

import asyncpg

from app.core.security import Caller, CallerKind, PublishableKeyCache
from app.main import create_app
from devtools.medusa_rows import create_api_key, new_id
from tests.conftest import SERVICE_KEY, make_settings, start_app
from tests.support.profiles import PRODUCTION

STATUS = "/api/v1/netvalve/status"


def random_key() -> dict[str, str]:
    return {"x-publishable-api-key": "pk_" + secrets.token_hex(32)}


async def test_unknown_keys_are_limited_per_address_before_the_medusa_query(db: str) -> None:
    app = create_app(make_settings(db, storefront_key_lookups_per_address=3))
    async for client in start_app(app):
        # From here on a query fails (503): an answer other than 503 proves none was made.
        await app.state.medusa_pool.close()
        looked_up = [
            await client.get(STATUS, params={"cart_id": "c"}, headers=random_key()) for _ in range(3)
        ]
        limited = await client.get(STATUS, params={"cart_id": "c"}, headers=random_key())

        assert [answer.status_code for answer in looked_up] == [503, 503, 503]
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"]["details"] == {"per": "address_key_lookups"}


def test_refused_keys_never_push_a_real_key_out_of_the_cache() -> None:
    cache = PublishableKeyCache(ttl_seconds=60, max_entries=2)
    real = "pk_" + secrets.token_hex(32)
    shopper = Caller(CallerKind.STOREFRONT, "apk_real")
    cache.put(real, shopper)
    for _ in range(50):
        cache.put("pk_" + secrets.token_hex(32), None)

    assert cache.get(real) == (True, shopper)
    assert len(cache) <= 3


async def test_a_medusa_connection_is_waited_for_only_so_long(
    db: str, medusa_conn: asyncpg.Connection
) -> None:
    app = create_app(
        make_settings(
            db, medusa_pool_min_size=1, medusa_pool_max_size=1, medusa_pool_acquire_timeout_seconds=0.3
        )
    )
    async for client in start_app(app):
        token = await create_api_key(medusa_conn)
        async with app.state.medusa_pool.acquire():
            started = time.monotonic()
            busy = await asyncio.wait_for(
                client.get(
                    STATUS, params={"cart_id": new_id("cart")}, headers={"x-publishable-api-key": token}
                ),
                timeout=5,
            )
            waited = time.monotonic() - started

        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "medusa_busy"
        assert busy.headers["retry-after"]
        assert waited < 2
        served = await client.get(
            STATUS, params={"cart_id": new_id("cart")}, headers={"x-publishable-api-key": token}
        )
        assert served.status_code == 404, served.text


async def test_production_ready_probes_the_databases_only_for_the_service_key_or_once_a_while(
    db: str,
) -> None:
    app = create_app(make_settings(db, **PRODUCTION, ready_cache_seconds=30))
    async for client in start_app(app):
        assert (await client.get("/ready")).status_code == 200
        await app.state.medusa_pool.close()

        # Within READY_CACHE_SECONDS an anonymous caller gets the last verdict: no query was made for it.
        anonymous = [await client.get("/ready") for _ in range(20)]
        operator = await client.get("/ready", headers={"Authorization": f"Bearer {SERVICE_KEY}"})

        assert [answer.status_code for answer in anonymous] == [200] * 20
        assert operator.status_code == 503
        assert operator.json()["error"]["code"] == "not_ready"
