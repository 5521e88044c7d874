"""Fixtures of the fault-injection tests: a sandbox served on a real socket and a line to its controls."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devtools.pgcluster import Cluster, free_port
from netvalve_sandbox.main import create_app as create_sandbox
from netvalve_sandbox.settings import SandboxSettings
from tests.faults.support import READ_TIMEOUT_SECONDS, OwnDatabase, SandboxServer, migrated_database


@pytest.fixture
async def sandbox_server() -> AsyncIterator[SandboxServer]:
    sandbox = create_sandbox(
        SandboxSettings(
            webhooks_enabled=False,
            pending_settle_seconds=0,
            public_url="https://sandbox.test",
            timeout_seconds=READ_TIMEOUT_SECONDS * 2,
        )
    )
    server = SandboxServer(sandbox)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def nv(sandbox_server: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """The test's own line to the sandbox: knobs and the sandbox's ledger."""
    async with httpx.AsyncClient(base_url=sandbox_server.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="package")
def own_cluster() -> Iterator[Cluster]:
    """A cluster of our own: these tests stop it, so it must never be the session's shared one."""
    tmp = Path(tempfile.mkdtemp(prefix="netvalve-faults-pg-"))
    os.chmod(tmp, 0o755)
    cluster = Cluster(tmp / "data", free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
async def own_db(own_cluster: Cluster) -> AsyncIterator[OwnDatabase]:
    dsn = await migrated_database(own_cluster, f"faults_{uuid.uuid4().hex[:12]}")
    database = OwnDatabase(own_cluster, dsn)
    try:
        yield database
    finally:
        # Whatever the test left it in, the next test needs the cluster up.
        await database.start()
