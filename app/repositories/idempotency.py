"""SQL for ``idempotency_keys``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyKey


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, scope: str, key: str, request_sha256: str, ttl: timedelta, lease: timedelta
    ) -> bool:
        """Take the key if nobody holds it, if it expired, or if its holder left it unanswered for longer
        than ``lease`` (the request died) and this is the same request; True when this request now owns it.

        One atomic statement: two requests racing for a key cannot both win."""
        now = datetime.now(UTC)
        stored = IdempotencyKey.__table__.c
        statement = insert(IdempotencyKey).values(
            scope=scope, key=key, request_sha256=request_sha256, claimed_at=now, expires_at=now + ttl
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[IdempotencyKey.scope, IdempotencyKey.key],
            set_={
                "request_sha256": statement.excluded.request_sha256,
                "response_status": None,
                "response_body": None,
                "claimed_at": statement.excluded.claimed_at,
                "expires_at": statement.excluded.expires_at,
            },
            where=or_(
                stored.expires_at < now,
                and_(
                    stored.response_status.is_(None),
                    stored.request_sha256 == statement.excluded.request_sha256,
                    stored.claimed_at < now - lease,
                ),
            ),
        ).returning(IdempotencyKey.key)
        result = await self.session.execute(upsert)
        return result.scalar_one_or_none() is not None

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
