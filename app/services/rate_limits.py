"""Rate limits on the storefront routes, the card tester's way in: fixed windows per client address and per
publishable key (and a tighter one on payments per address), counted in PostgreSQL so that every replica
enforces one limit. Service-key callers are the shop's own backend and are not limited."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.errors import RateLimited
from app.core.security import Caller
from app.repositories.rate_limits import count_hits


@dataclass(frozen=True, slots=True)
class _Limit:
    per: str
    bucket: str
    most: int


class RateLimiter:
    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine

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
        now = time.time()
        start = now - now % window
        counts = await count_hits(
            self.engine, [limit.bucket for limit in limits], datetime.fromtimestamp(start, UTC)
        )
        for limit in limits:
            if counts[limit.bucket] > limit.most:
                raise RateLimited(limit.per, max(1, math.ceil(start + window - now)))
