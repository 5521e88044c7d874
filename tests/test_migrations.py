"""Alembic: upgrade, downgrade, upgrade again, and blind to Medusa's tables."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.conftest import ROOT, recreate_database, run_alembic

REFERENCE_SCHEMA = ROOT.parent / "shared" / "medusa" / "schema-2.21.2.sql"
OUR_TABLES = {"webhook_events", "payments", "payment_transactions", "hpf_tokens", "idempotency_keys"}


def _reference_sql() -> str:
    lines = [line for line in REFERENCE_SCHEMA.read_text().splitlines() if not line.startswith("\\")]
    return "\n".join(lines)


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows}


async def test_upgrade_downgrade_upgrade_round_trip(pg_admin_dsn: str) -> None:
    dsn = await recreate_database(pg_admin_dsn, "netvalve_migrations")
    run_alembic(dsn, "upgrade", "head")
    assert await _tables(dsn) >= OUR_TABLES
    run_alembic(dsn, "downgrade", "base")
    assert await _tables(dsn) == {"netvalve_alembic_version"}
    run_alembic(dsn, "upgrade", "head")
    assert await _tables(dsn) >= OUR_TABLES
    assert (
        "No new upgrade operations detected"
        in run_alembic(dsn, "check").stdout + run_alembic(dsn, "check").stderr
    )


@pytest.mark.skipif(not REFERENCE_SCHEMA.exists(), reason="reference Medusa schema not present")
async def test_alembic_never_sees_medusas_tables(pg_admin_dsn: str, tmp_path: Path) -> None:
    dsn = await recreate_database(pg_admin_dsn, "netvalve_with_medusa")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_reference_sql())
    finally:
        await conn.close()
    medusa_tables = await _tables(dsn)
    assert len(medusa_tables) > 100

    run_alembic(dsn, "upgrade", "head")
    check = run_alembic(dsn, "check")
    assert "No new upgrade operations detected" in check.stdout + check.stderr

    run_alembic(dsn, "downgrade", "base")
    assert await _tables(dsn) == medusa_tables | {"netvalve_alembic_version"}
