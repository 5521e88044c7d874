"""The asyncpg pool on Medusa's database: read-only use, queries live in ``app.repositories.medusa_sql``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from app.core.config import Settings

if TYPE_CHECKING:
    MedusaPool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    MedusaPool = asyncpg.Pool


async def _nothing_to_reset(_: asyncpg.Connection[asyncpg.Record]) -> None:
    """Replaces asyncpg's reset on release (a round trip per read): the reader only runs SELECTs in
    read-only transactions and never sets, listens or locks anything that could outlive them."""


async def create_medusa_pool(settings: Settings) -> MedusaPool:
    kwargs: dict[str, Any] = {
        "reset": _nothing_to_reset,
        "min_size": settings.medusa_pool_min_size,
        "max_size": settings.medusa_pool_max_size,
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_statement_timeout_ms / 1000 or None,
        "server_settings": {
            "application_name": "netvalve-service-medusa-reader",
            "default_transaction_read_only": "on",
        },
    }
    if not settings.db_statement_cache:
        kwargs["statement_cache_size"] = 0
    pool: MedusaPool = await asyncpg.create_pool(settings.medusa_dsn, **kwargs)
    return pool
