"""Scheduled purge of rows nobody needs any more: expired idempotency keys, settled webhook events,
delivered outbox rows, expired HPF token bindings and spent (expired or deleted) saved cards, each after its
own retention setting, and rate-limit counts of past windows, in short batches."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.repositories.retention import RetentionRepository

logger = logging.getLogger(__name__)

Batch = Callable[[RetentionRepository, int], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class PurgeResult:
    idempotency_keys: int
    webhook_events: int
    outbox: int
    rate_limit_hits: int = 0
    hpf_tokens: int = 0
    saved_cards: int = 0


async def _in_batches(sessionmaker: async_sessionmaker[AsyncSession], batch_size: int, batch: Batch) -> int:
    """Runs ``batch`` in its own transaction until one deletes less than a full batch."""
    total = 0
    while True:
        async with sessionmaker.begin() as db:
            deleted = await batch(RetentionRepository(db), batch_size)
        total += deleted
        if deleted < batch_size:
            return total


async def purge_due_rows(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime | None = None
) -> PurgeResult:
    """Delete what is past its retention; rows still in use, or locked by someone, are kept."""
    now = now or datetime.now(UTC)
    size = settings.retention_batch_size
    events_before = now - timedelta(days=settings.webhook_event_retention_days)
    outbox_before = now - timedelta(days=settings.outbox_retention_days)
    tokens_before = now - timedelta(hours=settings.hpf_token_retention_hours)
    cards_before = now - timedelta(days=settings.saved_card_retention_days)
    windows_before = now - timedelta(seconds=settings.storefront_rate_limit_window_seconds)
    result = PurgeResult(
        idempotency_keys=await _in_batches(
            sessionmaker, size, lambda repo, limit: repo.delete_expired_idempotency_keys(now, limit)
        ),
        webhook_events=await _in_batches(
            sessionmaker, size, lambda repo, limit: repo.delete_settled_webhook_events(events_before, limit)
        ),
        outbox=await _in_batches(
            sessionmaker, size, lambda repo, limit: repo.delete_delivered_outbox(outbox_before, limit)
        ),
        rate_limit_hits=await _in_batches(
            sessionmaker,
            size,
            lambda repo, limit: repo.delete_past_rate_limit_windows(windows_before, limit),
        ),
        hpf_tokens=await _in_batches(
            sessionmaker, size, lambda repo, limit: repo.delete_expired_hpf_tokens(tokens_before, limit)
        ),
        saved_cards=await _in_batches(
            sessionmaker, size, lambda repo, limit: repo.delete_spent_saved_cards(cards_before, limit)
        ),
    )
    if any(astuple(result)):
        logger.info(
            "retention purge",
            extra={
                "idempotency_keys": result.idempotency_keys,
                "webhook_events": result.webhook_events,
                "outbox": result.outbox,
                "rate_limit_hits": result.rate_limit_hits,
                "hpf_tokens": result.hpf_tokens,
                "saved_cards": result.saved_cards,
            },
        )
    return result
