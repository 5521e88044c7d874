"""Counting storefront requests: one statement per request, whatever the number of buckets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RateLimitHit


class RateLimitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def hit(self, buckets: list[str], window_start: datetime) -> dict[str, int]:
        """Count one request in each bucket's window; the counts so far, this one included."""
        # One order for every caller, so that two requests upserting the same rows never deadlock.
        rows = [{"bucket": bucket, "window_start": window_start, "hits": 1} for bucket in sorted(buckets)]
        statement = (
            insert(RateLimitHit)
            .values(rows)
            .on_conflict_do_update(
                index_elements=[RateLimitHit.bucket, RateLimitHit.window_start],
                set_={"hits": RateLimitHit.hits + 1},
            )
            .returning(RateLimitHit.bucket, RateLimitHit.hits)
        )
        return {row.bucket: row.hits for row in await self.session.execute(statement)}
