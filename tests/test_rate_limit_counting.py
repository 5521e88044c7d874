"""How the storefront rate limiter counts: in memory far below a limit, flushed to the shared count in one
statement, and in PostgreSQL on every request from half a limit on. Two limiters on one database are two
replicas. The limits' answers on the routes are tested in flows/test_card_testing.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asyncpg import Connection
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.errors import RateLimited
from app.core.security import Caller, CallerKind
from app.db.session import create_engine
from app.main import create_app
from app.models import RateLimitHit
from app.services.rate_limits import RateLimiter
from devtools.medusa_rows import create_publishable_key
from tests.conftest import make_settings, start_app

SHOPPER = Caller(CallerKind.STOREFRONT, "apk_test")
ADDRESS = "198.51.100.7"
WINDOW = 60


class Clock:
    """Time stands still unless a test moves it, so that no request falls into the next window."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0 + 5

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engine(db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(db))
    try:
        yield engine
    finally:
        await engine.dispose()


def limiter(engine: AsyncEngine, clock: Clock, *, per_address: int, per_key: int = 0) -> RateLimiter:
    settings = make_settings(
        "postgresql://unused/unused",
        storefront_rate_limit_window_seconds=WINDOW,
        storefront_rate_limit_per_address=per_address,
        storefront_rate_limit_per_key=per_key,
    )
    return RateLimiter(settings, engine, clock)


async def shared_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(RateLimitHit.bucket, RateLimitHit.hits))
    return {row.bucket: row.hits for row in rows}


async def test_far_below_its_limits_a_replica_counts_in_memory_and_a_flush_adds_every_hit(
    engine: AsyncEngine,
) -> None:
    counting = limiter(engine, Clock(), per_address=1000, per_key=1000)
    for _ in range(30):
        await counting.check(SHOPPER, ADDRESS, payment=False)

    # Only a bucket's first request, which has no count to go by yet, went to PostgreSQL.
    assert await shared_counts(engine) == {f"address:{ADDRESS}": 1, "key:apk_test": 1}
    await counting.flush()
    assert await shared_counts(engine) == {f"address:{ADDRESS}": 30, "key:apk_test": 30}
    await counting.flush()
    assert await shared_counts(engine) == {f"address:{ADDRESS}": 30, "key:apk_test": 30}


async def test_from_half_a_limit_every_request_is_counted_in_postgresql_and_the_limit_is_exact(
    engine: AsyncEngine,
) -> None:
    counting = limiter(engine, Clock(), per_address=100)
    for _ in range(60):
        await counting.check(SHOPPER, ADDRESS, payment=False)
    assert await shared_counts(engine) == {f"address:{ADDRESS}": 60}

    for _ in range(40):
        await counting.check(SHOPPER, ADDRESS, payment=False)
    with pytest.raises(RateLimited) as refused:
        await counting.check(SHOPPER, ADDRESS, payment=False)

    assert refused.value.details == {"per": "address"}
    # The refusal came from memory (the count read back was at the limit); the next flush adds it.
    assert await shared_counts(engine) == {f"address:{ADDRESS}": 100}
    await counting.flush()
    assert await shared_counts(engine) == {f"address:{ADDRESS}": 101}


async def test_two_replicas_let_through_at_most_a_tenth_more_than_the_limit(engine: AsyncEngine) -> None:
    clock = Clock()
    replicas = [limiter(engine, clock, per_address=100), limiter(engine, clock, per_address=100)]
    let_through = refused = 0
    while refused < 2:
        for replica in replicas:
            try:
                await replica.check(SHOPPER, ADDRESS, payment=False)
            except RateLimited:
                refused += 1
            else:
                let_through += 1

    assert 100 <= let_through <= 110
    for replica in replicas:
        await replica.flush()
    assert await shared_counts(engine) == {f"address:{ADDRESS}": let_through + refused}


async def test_hits_held_back_by_one_replica_count_for_the_other_once_flushed(engine: AsyncEngine) -> None:
    clock = Clock()
    one, two = limiter(engine, clock, per_address=100), limiter(engine, clock, per_address=100)
    for _ in range(9):
        await one.check(SHOPPER, ADDRESS, payment=False)
    await one.flush()
    for _ in range(41):
        await two.check(SHOPPER, ADDRESS, payment=False)
    await two.flush()

    assert await shared_counts(engine) == {f"address:{ADDRESS}": 50}
    # The first replica still goes by the count its own flush read (9), so this hit waits in memory...
    await one.check(SHOPPER, ADDRESS, payment=False)
    assert await shared_counts(engine) == {f"address:{ADDRESS}": 50}
    # ...until its next flush reads half the limit, after which it counts every request at once.
    await one.flush()
    await one.check(SHOPPER, ADDRESS, payment=False)
    assert await shared_counts(engine) == {f"address:{ADDRESS}": 52}


async def test_a_new_window_starts_from_nothing_and_an_ended_one_is_forgotten(engine: AsyncEngine) -> None:
    clock = Clock()
    counting = limiter(engine, clock, per_address=3)
    for _ in range(3):
        await counting.check(SHOPPER, ADDRESS, payment=False)
    with pytest.raises(RateLimited) as refused:
        await counting.check(SHOPPER, ADDRESS, payment=False)
    assert refused.value.headers == {"Retry-After": str(WINDOW - 5)}

    clock.now += WINDOW
    await counting.check(SHOPPER, ADDRESS, payment=False)
    await counting.flush()

    async with engine.connect() as conn:
        windows = (await conn.execute(select(RateLimitHit.window_start, RateLimitHit.hits))).all()
    assert sorted(hits for _, hits in windows) == [1, 4]


async def test_a_replica_that_stops_adds_the_hits_it_held_back(db: str, medusa_conn: Connection) -> None:
    settings = make_settings(db, storefront_rate_limit_flush_seconds=10, trusted_proxies="127.0.0.1/32")
    app = create_app(settings)
    key = await create_publishable_key(medusa_conn)
    headers = {"x-publishable-api-key": key, "x-forwarded-for": ADDRESS}
    async for client in start_app(app):
        for _ in range(5):
            answer = await client.get(
                "/api/v1/netvalve/status", params={"cart_id": "cart_missing"}, headers=headers
            )
            assert answer.status_code == 404, answer.text

    engine = create_engine(settings)
    try:
        counts = await shared_counts(engine)
    finally:
        await engine.dispose()
    assert counts[f"address:{ADDRESS}"] == 5
