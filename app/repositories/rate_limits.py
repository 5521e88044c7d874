"""Counting storefront requests: one statement per request, whatever the number of buckets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, bindparam, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import fetch_on_driver
from app.models import RateLimitHit

# Built from the model once and run on the driver (``fetch_on_driver``): it is on every storefront request.
# The buckets are upserted in one order for every caller, so two requests counting the same rows never
# deadlock.
_BUCKETS = select(
    func.unnest(bindparam("buckets", type_=ARRAY(String))).label("bucket"),
    bindparam("window_start", type_=DateTime(timezone=True)),
    literal(1),
).order_by(literal_column("bucket"))
_HIT = (
    insert(RateLimitHit)
    .from_select(["bucket", "window_start", "hits"], _BUCKETS)
    .on_conflict_do_update(
        index_elements=[RateLimitHit.bucket, RateLimitHit.window_start],
        set_={"hits": RateLimitHit.hits + 1},
    )
    .returning(RateLimitHit.bucket, RateLimitHit.hits)
)


async def count_hits(engine: AsyncEngine, buckets: list[str], window_start: datetime) -> dict[str, int]:
    """Count one request in each bucket's window, committed; the counts so far, this one included."""
    rows = await fetch_on_driver(engine, _HIT, {"buckets": buckets, "window_start": window_start})
    return {row["bucket"]: row["hits"] for row in rows}
