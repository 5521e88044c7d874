"""Retention: the scheduled purge deletes only what is due, by status and age, in bounded batches that skip
rows another transaction holds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.db.session import create_engine, create_sessionmaker
from app.main import create_app
from app.repositories.retention import RetentionRepository
from app.services.retention import PurgeResult, purge_due_rows
from tests.conftest import make_settings, start_app

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def add_key(conn: asyncpg.Connection, key: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO idempotency_keys (scope, key, request_sha256, expires_at)"
        " VALUES ('payment', $1, $2, $3)",
        key,
        "0" * 64,
        expires_at,
    )


async def add_event(
    conn: asyncpg.Connection, name: str, status: str, received_at: datetime, processed_at: datetime | None
) -> None:
    await conn.execute(
        """
        INSERT INTO webhook_events
            (dedup_key, event_name, status, raw_body, payload, received_at, processed_at)
        VALUES ($1, 'PURCHASED', $2, '{}', '{}'::jsonb, $3, $4)
        """,
        name,
        status,
        received_at,
        processed_at,
    )


async def add_outbox(conn: asyncpg.Connection, name: str, status: str, delivered_at: datetime | None) -> None:
    outbox_id = await conn.fetchval(
        """
        INSERT INTO webhook_outbox (dedup_key, action, payload, status, delivered_at)
        VALUES ($1, 'captured', $2::jsonb, $3, $4) RETURNING id
        """,
        name,
        json.dumps({"action": "captured"}),
        status,
        delivered_at,
    )
    await conn.execute(
        "INSERT INTO webhook_outbox_attempts (outbox_id, http_status, duration_ms) VALUES ($1, 200, 5)",
        outbox_id,
    )


async def add_hits(conn: asyncpg.Connection, bucket: str, window_start: datetime) -> None:
    await conn.execute(
        "INSERT INTO rate_limit_hits (bucket, window_start, hits) VALUES ($1, $2, 3)", bucket, window_start
    )


async def add_token(
    conn: asyncpg.Connection, digest: str, created_at: datetime, expires_at: datetime | None
) -> None:
    await conn.execute(
        "INSERT INTO hpf_tokens (token_sha256, cart_id, created_at, expires_at)"
        " VALUES ($1, 'cart_1', $2, $3)",
        digest,
        created_at,
        expires_at,
    )


async def names(conn: asyncpg.Connection, query: str) -> set[str]:
    return {row[0] for row in await conn.fetch(query)}


async def test_the_purge_deletes_only_what_is_due(
    medusa_conn: asyncpg.Connection, sessionmaker: async_sessionmaker[AsyncSession], db: str
) -> None:
    conn = medusa_conn
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    await add_key(conn, "expired", NOW - timedelta(seconds=1))
    await add_key(conn, "expired-long-ago", NOW - timedelta(days=3))
    await add_key(conn, "live", NOW + timedelta(hours=23))
    for status in ("processed", "not_supported", "rejected"):
        await add_event(conn, f"old-{status}", status, old - timedelta(days=1), old)
        await add_event(conn, f"recent-{status}", status, old, recent)  # received long ago, settled lately
    for status in ("pending", "attention", "received"):
        await add_event(conn, f"old-{status}", status, old - timedelta(days=10), None)
    await add_event(conn, "old-rejected-unprocessed", "rejected", old, None)
    await add_outbox(conn, "old-delivered", "delivered", old)
    await add_outbox(conn, "recent-delivered", "delivered", recent)
    await add_outbox(conn, "old-pending", "pending", None)
    await add_outbox(conn, "old-failed", "failed", None)
    # Windows of 60 s: the one that began 61 s ago is over, the one that began 59 s ago still counts.
    await add_hits(conn, "address:ended", NOW - timedelta(seconds=61))
    await add_hits(conn, "address:current", NOW - timedelta(seconds=59))

    result = await purge_due_rows(sessionmaker, make_settings(db, retention_batch_size=2), now=NOW)

    assert result == PurgeResult(idempotency_keys=2, webhook_events=4, outbox=1, rate_limit_hits=1)
    assert await names(conn, "SELECT bucket FROM rate_limit_hits") == {"address:current"}
    assert await names(conn, "SELECT key FROM idempotency_keys") == {"live"}
    assert await names(conn, "SELECT dedup_key FROM webhook_events") == {
        "recent-processed",
        "recent-not_supported",
        "recent-rejected",
        "old-pending",
        "old-attention",
        "old-received",
    }
    assert await names(conn, "SELECT dedup_key FROM webhook_outbox") == {
        "recent-delivered",
        "old-pending",
        "old-failed",
    }
    # The delivered row's attempts went with it; the others keep theirs.
    assert await conn.fetchval("SELECT count(*) FROM webhook_outbox_attempts") == 3

    again = await purge_due_rows(sessionmaker, make_settings(db), now=NOW)
    assert again == PurgeResult(idempotency_keys=0, webhook_events=0, outbox=0)


async def test_hpf_token_bindings_are_purged_a_retention_period_after_they_expired(
    medusa_conn: asyncpg.Connection, sessionmaker: async_sessionmaker[AsyncSession], db: str
) -> None:
    """Every HPF session adds a row: without a purge the table grows with every checkout page view."""
    await add_token(medusa_conn, "expired-long-ago", NOW - timedelta(hours=26), NOW - timedelta(hours=25))
    await add_token(medusa_conn, "expired-lately", NOW - timedelta(hours=24), NOW - timedelta(hours=23))
    await add_token(medusa_conn, "live", NOW - timedelta(minutes=1), NOW + timedelta(minutes=4))
    await add_token(medusa_conn, "no-expiry-old", NOW - timedelta(hours=25), None)

    result = await purge_due_rows(sessionmaker, make_settings(db, retention_batch_size=1), now=NOW)

    assert await names(medusa_conn, "SELECT token_sha256 FROM hpf_tokens") == {"expired-lately", "live"}
    assert result.hpf_tokens == 2
    longer = make_settings(db, hpf_token_retention_hours=48)
    await add_token(medusa_conn, "expired-two-days-ago", NOW - timedelta(hours=50), NOW - timedelta(hours=49))
    assert (await purge_due_rows(sessionmaker, longer, now=NOW)).hpf_tokens == 1


async def test_the_retention_settings_decide_the_age(
    medusa_conn: asyncpg.Connection, sessionmaker: async_sessionmaker[AsyncSession], db: str
) -> None:
    five_days = NOW - timedelta(days=5)
    await add_event(medusa_conn, "five-days", "processed", five_days, five_days)
    await add_outbox(medusa_conn, "five-days", "delivered", five_days)

    kept = await purge_due_rows(sessionmaker, make_settings(db), now=NOW)
    assert kept == PurgeResult(idempotency_keys=0, webhook_events=0, outbox=0)
    short = make_settings(db, webhook_event_retention_days=4, outbox_retention_days=4)
    assert await purge_due_rows(sessionmaker, short, now=NOW) == PurgeResult(0, 1, 1)


async def test_one_batch_deletes_at_most_its_size(
    medusa_conn: asyncpg.Connection, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    for n in range(5):
        await add_key(medusa_conn, f"expired-{n}", NOW - timedelta(hours=1))
        await add_event(
            medusa_conn, f"old-{n}", "processed", NOW - timedelta(days=60), NOW - timedelta(days=60)
        )
        await add_outbox(medusa_conn, f"old-{n}", "delivered", NOW - timedelta(days=60))
    before = NOW - timedelta(days=30)

    for expected in (2, 2, 1, 0):
        async with sessionmaker.begin() as session:
            repository = RetentionRepository(session)
            assert await repository.delete_expired_idempotency_keys(NOW, 2) == expected
            assert await repository.delete_settled_webhook_events(before, 2) == expected
            assert await repository.delete_delivered_outbox(before, 2) == expected


async def test_rows_another_transaction_holds_are_skipped_not_waited_for(
    medusa_conn: asyncpg.Connection, sessionmaker: async_sessionmaker[AsyncSession], db: str
) -> None:
    for name in ("held", "free"):
        await add_key(medusa_conn, name, NOW - timedelta(hours=1))
        await add_event(medusa_conn, name, "processed", NOW - timedelta(days=60), NOW - timedelta(days=60))
        await add_outbox(medusa_conn, name, "delivered", NOW - timedelta(days=60))
    holder = await asyncpg.connect(db)
    try:
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM idempotency_keys WHERE key = 'held' FOR UPDATE")
            await holder.execute("SELECT 1 FROM webhook_events WHERE dedup_key = 'held' FOR UPDATE")
            await holder.execute("SELECT 1 FROM webhook_outbox WHERE dedup_key = 'held' FOR UPDATE")
            # A purge that waited on these locks would never return while they are held.
            result = await purge_due_rows(sessionmaker, make_settings(db), now=NOW)
    finally:
        await holder.close()

    assert result == PurgeResult(idempotency_keys=1, webhook_events=1, outbox=1)
    assert await names(medusa_conn, "SELECT key FROM idempotency_keys") == {"held"}
    assert await names(medusa_conn, "SELECT dedup_key FROM webhook_events") == {"held"}
    assert await names(medusa_conn, "SELECT dedup_key FROM webhook_outbox") == {"held"}


async def test_the_background_runner_purges(medusa_conn: asyncpg.Connection, db: str) -> None:
    await add_key(medusa_conn, "expired", datetime.now(UTC) - timedelta(hours=1))
    await add_key(medusa_conn, "live", datetime.now(UTC) + timedelta(hours=1))
    app = create_app(make_settings(db, retention_interval_seconds=3600))
    async for _ in start_app(app):
        # The first pass runs as the service starts; wait for it (bounded), then check what it left.
        for _ in range(200):
            if await names(medusa_conn, "SELECT key FROM idempotency_keys") == {"live"}:
                break
            await asyncio.sleep(0.05)
        assert await names(medusa_conn, "SELECT key FROM idempotency_keys") == {"live"}


async def add_card(
    conn: asyncpg.Connection, card_id: str, expiry: tuple[int, int], deleted_at: datetime | None = None
) -> None:
    await conn.execute(
        "INSERT INTO account_holders (id, customer_id) VALUES ('nvah_r', 'cus_r') ON CONFLICT DO NOTHING"
    )
    await conn.execute(
        """
        INSERT INTO saved_cards (id, account_holder_id, customer_id, token_encrypted, last4, masked,
                                 expiry_month, expiry_year, deleted_at)
        VALUES ($1, 'nvah_r', 'cus_r', 'x', '5439', '401200******5439', $2, $3, $4)
        """,
        card_id,
        expiry[0],
        expiry[1],
        deleted_at,
    )


async def test_expired_and_deleted_saved_cards_are_purged(
    medusa_conn: asyncpg.Connection, sessionmaker: async_sessionmaker[AsyncSession], db: str
) -> None:
    """A card is good to the end of its expiry month (NOW is in June 2026); a deleted one has no use."""
    await add_card(medusa_conn, "nvcard_expired", (5, 2026))
    await add_card(medusa_conn, "nvcard_this_month", (6, 2026))
    await add_card(medusa_conn, "nvcard_deleted", (12, 2030), deleted_at=NOW - timedelta(days=1))
    await add_card(medusa_conn, "nvcard_live", (12, 2030))

    result = await purge_due_rows(sessionmaker, make_settings(db, retention_batch_size=1), now=NOW)

    assert result.saved_cards == 2
    assert await names(medusa_conn, "SELECT id FROM saved_cards") == {"nvcard_this_month", "nvcard_live"}
    kept = make_settings(db, saved_card_retention_days=40)
    await add_card(medusa_conn, "nvcard_expired_lately", (5, 2026))
    assert (await purge_due_rows(sessionmaker, kept, now=NOW)).saved_cards == 0
