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
from tests.conftest import WEBHOOK_HEADER, WEBHOOK_SECRET
from tests.support.processes import (
    READ_TIMEOUT_SECONDS,
    WEBHOOK_PATH,
    OwnDatabase,
    SandboxServer,
    ServiceProcess,
    migrated_database,
    service_env,
)


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


@pytest.fixture
async def sandbox_for_service(tmp_path: Path) -> AsyncIterator[tuple[SandboxServer, int]]:
    """A sandbox on a socket whose webhooks go to the (not yet started) service's port."""
    service_port = free_port()
    sandbox = create_sandbox(
        SandboxSettings(
            webhook_url=f"http://127.0.0.1:{service_port}{WEBHOOK_PATH}",
            webhook_header_name=WEBHOOK_HEADER,
            webhook_header_value=WEBHOOK_SECRET,
            webhook_instant_retries=1,
            # Outlasts the dead interval, so webhooks sent to the dead service are retried after the restart.
            webhook_retry_schedule=[0.5, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0],
            webhook_timeout_seconds=3.0,
            pending_settle_seconds=0,
            public_url="https://sandbox.test",
        )
    )
    server = SandboxServer(sandbox)
    await server.start()
    try:
        yield server, service_port
    finally:
        await server.stop()


@pytest.fixture
def service_process(
    own_db: OwnDatabase, sandbox_for_service: tuple[SandboxServer, int], tmp_path: Path
) -> Iterator[ServiceProcess]:
    server, port = sandbox_for_service
    process = ServiceProcess(service_env(own_db.dsn, server.url), port, tmp_path / "service.log")
    try:
        yield process
    finally:
        process.stop()
