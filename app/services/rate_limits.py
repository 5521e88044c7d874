"""Rate limits on the storefront routes, the card tester's way in: fixed windows per client address (an
IPv6 client per /64), per publishable key (and a tighter one on payment requests per address), on the
publishable-key look-ups an address may cause, and a storefront-wide ceiling on declines, counted in
PostgreSQL so that every replica enforces one limit. Service-key callers are the shop's own backend and are
not limited.

A request is counted against its address's buckets first, and only one they let through reaches the
publishable key's bucket: an address over its own limits adds nothing to the storefront-wide count, so it
cannot refuse another address's requests; one address adds at most its own limit to it per window.

Counting every request in PostgreSQL at once puts one statement on every storefront request, and with one
publishable key for the whole storefront every replica's requests queue on one row. So each replica counts
in memory while a bucket is far below its limit and adds its hits to the shared count in one statement every
``STOREFRONT_RATE_LIMIT_FLUSH_SECONDS`` (``flush``). From half a limit on (as the replica last read the shared
count), or once a replica holds a tenth of a limit unflushed, every request is counted in PostgreSQL before it
is let through, so near a limit the count is exact up to the hits other replicas have not flushed yet: a limit
lets through at most a tenth more per other replica. A bucket the replica last read over its limit refuses
from memory until its window ends (the hits still reach the shared count at the next flush), so a flood from
one address costs no statement per request.

Declines are rare next to requests and are counted in PostgreSQL as they happen, after the answer is sent;
a replica learns the storefront's total when it records one, so past the ceiling each other replica lets at
most one more decline through."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.client_address import limit_subject
from app.core.config import Settings
from app.core.errors import RateLimited
from app.core.security import Caller
from app.repositories.rate_limits import Window, add_hits

logger = logging.getLogger(__name__)

# Past this many buckets in memory (an attacker rotating addresses), new buckets are counted in PostgreSQL
# straight away and not kept.
MAX_TALLIES = 50_000
DECLINES_BUCKET = "declines"

DECLINE_CEILING_REACHED: Final = Counter(
    "netvalve_storefront_decline_ceiling_reached",
    "Windows in which the storefront's declines reached STOREFRONT_DECLINE_CEILING (payments refused "
    "until the window ends).",
)


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

    def is_over(self, most: int) -> bool:
        """Whether one more hit would be over the limit on what this replica already knows."""
        return self.shared + self.pending >= most


@dataclass(frozen=True, slots=True)
class _Window:
    start: datetime
    retry_after: int


class RateLimiter:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self._tallies: dict[Window, _Tally] = {}
        self._flushing = asyncio.Lock()
        self._declines: tuple[datetime, int] | None = None

    def _window(self) -> _Window:
        window = self.settings.storefront_rate_limit_window_seconds
        now = self.clock()
        start = now - now % window
        return _Window(datetime.fromtimestamp(start, UTC), max(1, math.ceil(start + window - now)))

    async def check(
        self, caller: Caller, address: str | None, *, payment: bool, sends_card: bool = False
    ) -> None:
        """Count this request; ``RateLimited`` (429, with Retry-After) once a bucket is over its limit, or,
        for a request that sends a card (``sends_card``), once the storefront's declines reached their
        ceiling in this window."""
        settings = self.settings
        window = self._window()
        if address is not None:
            subject = limit_subject(address)
            await self._count(
                [
                    _Limit("address", f"address:{subject}", settings.storefront_rate_limit_per_address),
                    _Limit(
                        "address_payments",
                        f"payments:{subject}",
                        settings.storefront_payment_rate_limit_per_address if payment else 0,
                    ),
                ],
                window,
            )
        if sends_card and self._ceiling_reached(window.start):
            raise RateLimited("storefront_declines", window.retry_after)
        await self._count(
            [_Limit("publishable_key", f"key:{caller.key_id}", settings.storefront_rate_limit_per_key)],
            window,
        )

    async def check_key_lookup(self, address: str | None) -> None:
        """Count a publishable key this replica must ask Medusa about; refused before the query once the
        address asked about too many in this window."""
        if address is None:
            return
        most = self.settings.storefront_key_lookups_per_address
        await self._count(
            [_Limit("address_key_lookups", f"lookups:{limit_subject(address)}", most)], self._window()
        )

    async def record_decline(self) -> None:
        """Count a decline the storefront was answered; the storefront's total in this window is what
        ``check`` refuses card-sending requests by."""
        ceiling = self.settings.storefront_decline_ceiling
        if not ceiling:
            return
        window = self._window()
        key = (DECLINES_BUCKET, window.start)
        total = (await add_hits(self.engine, {key: 1}))[key]
        self._declines = (window.start, total)
        if total == ceiling:
            DECLINE_CEILING_REACHED.inc()
            logger.warning(
                "storefront decline ceiling reached: card-sending requests refused until the window ends",
                extra={"declines": total, "ceiling": ceiling, "retry_after_seconds": window.retry_after},
            )

    def _ceiling_reached(self, start: datetime) -> bool:
        ceiling = self.settings.storefront_decline_ceiling
        return (
            bool(ceiling)
            and self._declines is not None
            and self._declines[0] == start
            and (self._declines[1] >= ceiling)
        )

    async def _count(self, wanted: list[_Limit], window: _Window) -> None:
        """Count one hit in each bucket of ``wanted`` (in memory, or in one statement), then refuse if any
        is over its limit."""
        limits = [limit for limit in wanted if limit.most]
        if not limits:
            return
        counted = [(limit, (limit.bucket, window.start)) for limit in limits]
        tallies = {key: self._tallies.get(key) for _, key in counted}
        over = next(
            (
                limit
                for limit, key in counted
                if (tally := tallies[key]) is not None and tally.is_over(limit.most)
            ),
            None,
        )
        if over is not None or all(
            (tally := tallies[key]) is not None and tally.can_wait(limit.most) for limit, key in counted
        ):
            self._hold_back(dict.fromkeys(tallies, 1))
            if over is not None:
                raise RateLimited(over.per, window.retry_after)
            return
        # Counted in PostgreSQL now, together with what this replica held back for these buckets.
        hits = {key: 1 + (tally.pending if tally else 0) for key, tally in tallies.items()}
        for tally in tallies.values():
            if tally is not None:
                tally.pending = 0
        totals = await self._add(hits)
        for limit, key in counted:
            if totals[key] > limit.most:
                raise RateLimited(limit.per, window.retry_after)

    async def flush(self) -> None:
        """Add the hits this replica held back to the shared counts, read the totals back, and forget windows
        that have ended."""
        async with self._flushing:
            current = self._window().start
            hits = {key: tally.pending for key, tally in self._tallies.items() if tally.pending}
            for key in hits:
                self._tallies[key].pending = 0
            # A window that has ended no longer limits anything; the hits it held are still added.
            for key in [key for key in self._tallies if key[1] < current]:
                del self._tallies[key]
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
