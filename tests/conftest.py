"""Test harness: a real PostgreSQL (a throwaway cluster unless TEST_DATABASE_URL is set), our real
migrations, the Medusa fixture schema, and a clean database state for every test that touches it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings, load_settings
from devtools.pgcluster import Cluster, free_port

ROOT = Path(__file__).resolve().parent.parent
MEDUSA_FIXTURE_SCHEMA = ROOT / "tests" / "fixtures" / "medusa_schema.sql"
TEST_DATABASE = "netvalve_test"
SERVICE_KEY = "test-service-key-0123456789"
WEBHOOK_HEADER = "x-netvalve-webhook"
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
EUR_MID = "3f0c9a57-6d0e-4b43-9a53-0b1f1c2b7e01"
USD_MID = "8b1d2f43-2a6c-4f1e-b7a2-5c9e0d3f4a12"


def run_alembic(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real Alembic CLI, the way ops does, against ``dsn``."""
    env = {**os.environ, "DATABASE_URL": dsn}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """DSN of a maintenance database on the test server (may create and drop databases)."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    tmp = Path(tempfile.mkdtemp(prefix="netvalve-pg-"))
    os.chmod(tmp, 0o755)
    cluster = Cluster(tmp / "data", free_port())
    cluster.start()
    try:
        yield cluster.admin_dsn
    finally:
        cluster.stop("immediate")


async def recreate_database(admin_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_dsn.rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def database_dsn(pg_admin_dsn: str) -> str:
    """A database holding the Medusa fixture schema and our migrated tables."""
    dsn = await recreate_database(pg_admin_dsn, TEST_DATABASE)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(MEDUSA_FIXTURE_SCHEMA.read_text())
    finally:
        await conn.close()
    run_alembic(dsn, "upgrade", "head")
    return dsn


@pytest.fixture(scope="session")
async def _table_names(database_dsn: str) -> list[str]:
    conn = await asyncpg.connect(database_dsn)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'netvalve_alembic_version'"
        )
    finally:
        await conn.close()
    return sorted(row["tablename"] for row in rows)


@pytest.fixture
async def db(database_dsn: str, _table_names: list[str]) -> AsyncIterator[str]:
    """The test database's DSN; every table is emptied after the test, whatever it committed."""
    yield database_dsn
    conn = await asyncpg.connect(database_dsn)
    try:
        quoted = ", ".join(f'"{name}"' for name in _table_names)
        await conn.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def medusa_conn(db: str) -> AsyncIterator[asyncpg.Connection]:
    """A writable connection for inserting Medusa fixture rows (the service itself only reads them)."""
    conn = await asyncpg.connect(db)
    try:
        yield conn
    finally:
        await conn.close()


def make_settings(database_dsn: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "app_env": "test",
        "log_format": "console",
        "database_url": database_dsn,
        "netvalve_environment": "sandbox",
        "netvalve_api_key": "sandbox-api-key",
        "netvalve_client_id": "sandbox-client",
        "netvalve_payment_api_url": "http://netvalve.test",
        "netvalve_hpp_base_url": "http://netvalve.test",
        "netvalve_backoffice_api_url": "http://netvalve.test",
        "netvalve_mid_id_eur": EUR_MID,
        "netvalve_mid_id_usd": USD_MID,
        "service_api_keys": SERVICE_KEY,
        "netvalve_webhook_auth_header": WEBHOOK_HEADER,
        "netvalve_webhook_auth_values": WEBHOOK_SECRET,
        "webhook_worker_enabled": False,
        "reconcile_interval_seconds": 0,
        "authorization_check_interval_seconds": 0,
        # Every test calls from one address; the limits have their own tests (flows/test_card_testing.py).
        "storefront_rate_limit_per_address": 1_000_000,
        "storefront_rate_limit_per_key": 1_000_000,
        "storefront_payment_rate_limit_per_address": 1_000_000,
        "storefront_key_lookups_per_address": 1_000_000,
        "storefront_decline_ceiling": 1_000_000,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(db: str) -> Settings:
    return make_settings(db)


async def start_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test") as client,
    ):
        yield client


@pytest.fixture
async def app(settings: Settings) -> FastAPI:
    from app.main import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for c in start_app(app):
        yield c
