"""A Medusa reader on the test database, through the same read-only pool the service builds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.core.config import load_settings
from app.db.medusa import MedusaPool, create_medusa_pool
from app.repositories.medusa import MedusaReader


async def open_medusa_pool(dsn: str) -> MedusaPool:
    return await create_medusa_pool(load_settings(app_env="test", database_url=dsn, medusa_database_url=dsn))


@pytest.fixture
async def medusa_pool(db: str) -> AsyncIterator[MedusaPool]:
    pool = await open_medusa_pool(db)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def reader(medusa_pool: MedusaPool) -> MedusaReader:
    return MedusaReader(medusa_pool)
