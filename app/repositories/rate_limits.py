"""Counting storefront requests: one statement adds any number of buckets' hits and returns their totals."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import fetch_on_driver
from app.models import RateLimitHit

_ROWS = (
    func.unnest(
        bindparam("buckets", type_=ARRAY(String)),
        bindparam("windows", type_=ARRAY(DateTime(timezone=True))),
        bindparam("hits", type_=ARRAY(Integer)),
    )
    .table_valued(
        column("bucket", String), column("window_start", DateTime(timezone=True)), column("hits", Integer)
    )
    .render_derived(name="added")
)
# Built from the model once and run on the driver (``fetch_on_driver``). Rows are upserted in one order for
# every caller, so two statements adding to the same rows never deadlock.
_ADD = (
    insert(RateLimitHit)
    .from_select(
        ["bucket", "window_start", "hits"],
        select(_ROWS.c.bucket, _ROWS.c.window_start, _ROWS.c.hits).order_by(
            _ROWS.c.bucket, _ROWS.c.window_start
        ),
    )
    .on_conflict_do_update(
        index_elements=[RateLimitHit.bucket, RateLimitHit.window_start],
        set_={"hits": RateLimitHit.hits + insert(RateLimitHit).excluded.hits},
    )
    .returning(RateLimitHit.bucket, RateLimitHit.window_start, RateLimitHit.hits)
)

Window = tuple[str, datetime]


async def add_hits(engine: AsyncEngine, hits: Mapping[Window, int]) -> dict[Window, int]:
    """Add hits to each (bucket, window start), committed; each one's total so far, these included."""
    rows = await fetch_on_driver(
        engine,
        _ADD,
        {
            "buckets": [bucket for bucket, _ in hits],
            "windows": [start for _, start in hits],
            "hits": list(hits.values()),
        },
    )
    return {(row["bucket"], row["window_start"]): row["hits"] for row in rows}
