"""Our database: one async engine per process, one session per request that commits once."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from uuid import uuid4

import asyncpg
from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from app.core.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    connect_args: dict[str, object] = {
        "timeout": settings.db_connect_timeout_seconds,
        "server_settings": {
            "application_name": "netvalve-service",
            "statement_timeout": str(settings.db_statement_timeout_ms),
        },
    }
    if not settings.db_statement_cache:
        # Behind a transaction pooler (PgBouncer, Supabase) prepared statements break across backends.
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid4()}__"
    return create_async_engine(
        settings.sqlalchemy_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_args=connect_args,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_autocommit_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for work that is one statement: no BEGIN and COMMIT round trips around it."""
    return create_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))


@lru_cache(maxsize=16)
def compiled_sql(
    statement: ClauseElement, dialect: Dialect
) -> tuple[str, tuple[str, ...], Mapping[str, Any]]:
    """A statement SQLAlchemy built from the models, compiled once: its SQL, its parameters' order, and the
    values of those the statement fixes itself (literals)."""
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return str(compiled), tuple(compiled.positiontup or ()), compiled.params


async def fetch_on_driver(
    engine: AsyncEngine, statement: ClauseElement, values: Mapping[str, Any]
) -> list[asyncpg.Record]:
    """Run one statement on a pooled connection's own asyncpg driver, committed when this returns.

    For the hottest single statements (a webhook delivery, a rate-limit count): one round trip, without the
    per-statement work of a Session. ``values`` maps each bound parameter's name to its value."""
    sql, order, fixed = compiled_sql(statement, engine.dialect)
    args = [values[name] if name in values else fixed[name] for name in order]
    for attempt in range(2):
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            if driver.is_closed() and attempt == 0:
                # Closed by the server (restart, idle timeout) while it sat in the pool: take another one.
                await conn.invalidate()
                continue
            try:
                rows: list[asyncpg.Record] = await driver.fetch(sql, *args)
            except BaseException:
                # The pool never sees failures on the driver connection: do not hand it out again.
                await conn.invalidate()
                raise
            return rows
    raise asyncpg.ConnectionDoesNotExistError("no open database connection")
