"""SQL for ``idempotency_keys``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyKey


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, scope: str, key: str, request_sha256: str, ttl: timedelta, lease: timedelta
    ) -> bool:
        """Insert the key if nobody holds it, or take over a claim left unanswered for longer than ``lease``
        (its holder died) for the same request; True when this request now owns it."""
        now = datetime.now(UTC)
        # An expired key is free again: drop it first so the insert below can take its place.
        await self.session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.expires_at < now
            )
        )
        result = await self.session.execute(
            insert(IdempotencyKey)
            .values(scope=scope, key=key, request_sha256=request_sha256, expires_at=now + ttl)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if result.scalar_one_or_none() is not None:
            return True
        # Under READ COMMITTED a concurrent take-over re-checks claimed_at after the first commits: one wins.
        taken = await self.session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.scope == scope,
                IdempotencyKey.key == key,
                IdempotencyKey.request_sha256 == request_sha256,
                IdempotencyKey.response_status.is_(None),
                IdempotencyKey.claimed_at < now - lease,
            )
            .values(claimed_at=now, expires_at=now + ttl)
            .returning(IdempotencyKey.key)
        )
        return taken.scalar_one_or_none() is not None

    async def get(self, scope: str, key: str) -> IdempotencyKey | None:
        result = await self.session.execute(
            select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )
        return result.scalar_one_or_none()

    async def complete(self, scope: str, key: str, status: int, body: bytes) -> None:
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
            .values(response_status=status, response_body=body)
        )

    async def release(self, scope: str, key: str) -> None:
        await self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )

    async def purge_expired(self) -> int:
        result = await self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at < datetime.now(UTC))
        )
        return int(getattr(result, "rowcount", 0) or 0)
