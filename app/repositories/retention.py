"""Deletes of rows past their retention, one bounded batch per call.

Each batch picks its rows with ``FOR UPDATE SKIP LOCKED``: a row that a request or a worker holds is left for
a later pass instead of being waited for, and the caller commits every batch on its own, so no lock on the
hot tables outlives one short statement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, literal_column, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    HpfToken,
    IdempotencyKey,
    OutboxStatus,
    RateLimitHit,
    SavedCard,
    WebhookEvent,
    WebhookEventStatus,
    WebhookOutbox,
)

# Final states only: received, pending and attention events still have work (or a person) waiting on them.
SETTLED_WEBHOOK_STATUSES = (
    WebhookEventStatus.PROCESSED,
    WebhookEventStatus.NOT_SUPPORTED,
    WebhookEventStatus.REJECTED,
)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class RetentionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delete_expired_idempotency_keys(self, now: datetime, limit: int) -> int:
        """Keys whose TTL has run out: a retry with such a key is a new request anyway."""
        due = (
            select(IdempotencyKey.scope, IdempotencyKey.key)
            .where(IdempotencyKey.expires_at < now)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = delete(IdempotencyKey).where(tuple_(IdempotencyKey.scope, IdempotencyKey.key).in_(due))
        return _count(await self.session.execute(statement))

    async def delete_settled_webhook_events(self, before: datetime, limit: int) -> int:
        """Events in a final state, settled (or received, for those never processed) before ``before``."""
        settled_at = func.coalesce(WebhookEvent.processed_at, WebhookEvent.received_at)
        due = (
            select(WebhookEvent.id)
            .where(WebhookEvent.status.in_(SETTLED_WEBHOOK_STATUSES), settled_at < before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return _count(await self.session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(due))))

    async def delete_delivered_outbox(self, before: datetime, limit: int) -> int:
        """Outbox rows Medusa acknowledged before ``before``, with their attempts (ON DELETE CASCADE)."""
        due = (
            select(WebhookOutbox.id)
            .where(WebhookOutbox.status == OutboxStatus.DELIVERED, WebhookOutbox.delivered_at < before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return _count(await self.session.execute(delete(WebhookOutbox).where(WebhookOutbox.id.in_(due))))

    async def delete_past_rate_limit_windows(self, before: datetime, limit: int) -> int:
        """Counts of windows that ended before ``before``: no request is counted in them any more."""
        due = (
            select(RateLimitHit.bucket, RateLimitHit.window_start)
            .where(RateLimitHit.window_start < before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = delete(RateLimitHit).where(
            tuple_(RateLimitHit.bucket, RateLimitHit.window_start).in_(due)
        )
        return _count(await self.session.execute(statement))

    async def delete_expired_hpf_tokens(self, before: datetime, limit: int) -> int:
        """Token-to-cart bindings of tokens that expired (or, without an expiry, were issued) before
        ``before``: NetValve no longer takes the token, so there is nothing left to bind."""
        expired_at = func.coalesce(HpfToken.expires_at, HpfToken.created_at)
        due = (
            select(HpfToken.token_sha256)
            .where(expired_at < before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return _count(await self.session.execute(delete(HpfToken).where(HpfToken.token_sha256.in_(due))))

    async def delete_spent_saved_cards(self, before: datetime, limit: int) -> int:
        """Saved cards deleted, or whose expiry month ended, before ``before``: no payment may use them."""
        expired_at = func.make_timestamptz(
            SavedCard.expiry_year, SavedCard.expiry_month, 1, 0, 0, 0, "UTC"
        ) + literal_column("interval '1 month'")
        due = (
            select(SavedCard.id)
            .where(or_(SavedCard.deleted_at < before, expired_at < before))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return _count(await self.session.execute(delete(SavedCard).where(SavedCard.id.in_(due))))
