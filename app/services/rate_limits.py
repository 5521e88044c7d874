"""Rate limits on the storefront routes, the card tester's way in: fixed windows per client address and per
publishable key (and a tighter one on payments per address), counted in PostgreSQL so that every replica
enforces one limit. Service-key callers are the shop's own backend and are not limited.

Counting every request in PostgreSQL at once puts one statement on every storefront request, and with one
publishable key for the whole storefront every replica's requests queue on one row. So each replica counts
in memory while a bucket is far below its limit and adds its hits to the shared count in one statement every
``STOREFRONT_RATE_LIMIT_FLUSH_SECONDS`` (``flush``). From half a limit on (as the replica last read the shared
count), or once a replica holds a tenth of a limit unflushed, every request is counted in PostgreSQL before it
is let through, so near a limit the count is exact up to the hits other replicas have not flushed yet: a limit
lets through at most a tenth more per other replica."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.errors import RateLimited
from app.core.security import Caller
from app.repositories.rate_limits import Window, add_hits

# Past this many buckets in memory (an attacker rotating addresses), new buckets are counted in PostgreSQL
# straight away and not kept.
MAX_TALLIES = 50_000


@dataclass(frozen=True, slots=True)
class _Limit:
    per: str
    bucket: str
    most: int


@dataclass(slots=True)
class _Tally:
    shared: int = 0
    pending: int = 0

    def can_wait(self, most: int) -> bool:
        """Whether one more hit may be let through on this replica's count alone."""
        return self.pending + 1 < most // 10 and 2 * (self.shared + self.pending + 1) <= most


class RateLimiter:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self._tallies: dict[Window, _Tally] = {}
        self._flushing = asyncio.Lock()

    def _limits(self, caller: Caller, address: str | None, payment: bool) -> list[_Limit]:
        settings = self.settings
        wanted = [
            ("address", f"address:{address}", settings.storefront_rate_limit_per_address, address),
            (
                "publishable_key",
                f"key:{caller.key_id}",
                settings.storefront_rate_limit_per_key,
                caller.key_id,
            ),
            (
                "address_payments",
                f"payments:{address}",
                settings.storefront_payment_rate_limit_per_address if payment else 0,
                address,
            ),
        ]
        return [_Limit(per, bucket, most) for per, bucket, most, subject in wanted if most and subject]

    async def check(self, caller: Caller, address: str | None, *, payment: bool) -> None:
        """Count this request; ``RateLimited`` (429, with Retry-After) once a bucket is over its limit."""
        limits = self._limits(caller, address, payment)
        if not limits:
            return
        window = self.settings.storefront_rate_limit_window_seconds
        now = self.clock()
        start = now - now % window
        window_start = datetime.fromtimestamp(start, UTC)
        counted = [(limit, (limit.bucket, window_start)) for limit in limits]
        tallies = {key: self._tallies.get(key) for _, key in counted}
        waiting = [tally for tally in tallies.values() if tally is not None]
        if len(waiting) == len(counted) and all(
            tally.can_wait(limit.most) for tally, (limit, _) in zip(waiting, counted, strict=True)
        ):
            for tally in waiting:
                tally.pending += 1
            return
        # Counted in PostgreSQL now, together with what this replica held back for these buckets.
        hits = {key: 1 + (tally.pending if tally else 0) for key, tally in tallies.items()}
        for tally in waiting:
            tally.pending = 0
        totals = await self._add(hits)
        for limit, key in counted:
            if totals[key] > limit.most:
                raise RateLimited(limit.per, max(1, math.ceil(start + window - now)))

    async def flush(self) -> None:
        """Add the hits this replica held back to the shared counts, read the totals back, and forget windows
        that have ended."""
        async with self._flushing:
            now = self.clock()
            window = self.settings.storefront_rate_limit_window_seconds
            current = datetime.fromtimestamp(now - now % window, UTC)
            # Hits of a window that has ended no longer limit anything.
            for key in [key for key in self._tallies if key[1] < current]:
                del self._tallies[key]
            hits = {key: tally.pending for key, tally in self._tallies.items() if tally.pending}
            for key in hits:
                self._tallies[key].pending = 0
            if hits:
                await self._add(hits)

    async def _add(self, hits: dict[Window, int]) -> dict[Window, int]:
        """Add hits to the shared counts and remember the totals; hits a failed statement did not add are
        kept for the next one (a request refused by the failure counts too: it was made)."""
        try:
            totals = await add_hits(self.engine, hits)
        except BaseException:
            self._hold_back(hits)
            raise
        self._remember(totals)
        return totals

    def _remember(self, totals: dict[Window, int]) -> None:
        for key, total in totals.items():
            tally = self._tallies.get(key)
            if tally is not None:
                tally.shared = total
            elif len(self._tallies) < MAX_TALLIES:
                self._tallies[key] = _Tally(shared=total)

    def _hold_back(self, hits: dict[Window, int]) -> None:
        for key, count in hits.items():
            tally = self._tallies.get(key)
            if tally is None and len(self._tallies) < MAX_TALLIES:
                tally = self._tallies[key] = _Tally()
            if tally is not None:
                tally.pending += count
