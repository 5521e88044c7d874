"""Fault-injection helpers: the NetValve sandbox behind a real socket, so that read timeouts, refused
connections and lost answers happen on the wire exactly as they would against NetValve."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.gateway import worst_case_call_seconds
from app.main import create_app
from app.models import GatewayTransaction, Payment
from devtools.medusa_rows import CartRows, create_publishable_key
from devtools.pgcluster import Cluster, free_port
from tests.conftest import (
    EUR_MID,
    MEDUSA_FIXTURE_SCHEMA,
    ROOT,
    SERVICE_KEY,
    USD_MID,
    WEBHOOK_HEADER,
    WEBHOOK_SECRET,
    make_settings,
    recreate_database,
    run_alembic,
    start_app,
)
from tests.support.stack import APPROVED_CARD, Stack

WEBHOOK_PATH = "/api/v1/netvalve/webhook"
SANDBOX_AUTH = {"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"}
STARTUP_TIMEOUT_SECONDS = 10.0
# Small enough to keep the matrix fast, large enough that an idle sandbox always answers in time.
READ_TIMEOUT_SECONDS = 0.4


class SandboxServer:
    """One sandbox app served by uvicorn on 127.0.0.1 inside the test's event loop; stoppable and
    restartable on the same port with its state (transactions, orders, tokens) intact."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("sandbox server stopped during startup")
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
                await self._task
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None


def fault_settings(db: str, sandbox_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "netvalve_payment_api_url": sandbox_url,
        "netvalve_hpp_base_url": sandbox_url,
        "netvalve_backoffice_api_url": sandbox_url,
        "netvalve_read_timeout_seconds": READ_TIMEOUT_SECONDS,
        "netvalve_connect_timeout_seconds": 1.0,
        # Short, so that a call's worst case (after which "not found" means "never sent") is soon over.
        "netvalve_write_timeout_seconds": 0.2,
        "netvalve_pool_timeout_seconds": 0.2,
        "netvalve_lookup_lag_seconds": 0,
        "netvalve_max_retries": 1,
        "netvalve_retry_backoff_seconds": 0.01,
        "netvalve_retry_backoff_max_seconds": 2.0,
        # The matrix injects many failures on purpose; the breaker is the gateway tests' subject.
        "netvalve_circuit_failure_threshold": 1000,
        "reconcile_min_age_seconds": 0,
    }
    values.update(overrides)
    return make_settings(db, **values)


async def hpf_token(
    client: httpx.AsyncClient, nv: httpx.AsyncClient, cart_id: str, storefront: dict[str, str]
) -> str:
    """An HPF session for the cart, with the approved test card tokenized at the sandbox."""
    session = await client.post("/api/v1/netvalve/hpf/session", json={"cart_id": cart_id}, headers=storefront)
    assert session.status_code == 200, session.text
    value: str = session.json()["hpf"]["payment_token"]
    card = {"cardNumber": APPROVED_CARD, "expiryMonth": "12", "expiryYear": "2030", "cvv": "999"}
    tokenized = await nv.post("/_sandbox/tokenize", json={"paymentToken": value, **card})
    assert tokenized.status_code == 200, tokenized.text
    return value


async def service_ready(client: httpx.AsyncClient) -> bool:
    """``/ready`` answers 200 (a service that is down or restarting is simply not ready)."""
    with contextlib.suppress(httpx.TransportError):
        return (await client.get("/ready")).status_code == 200
    return False


async def payment_in_flight(conn: asyncpg.Connection, cart_id: str) -> bool:
    """The cart's pending payment has a gateway call on the wire."""
    value = await conn.fetchval(
        "SELECT operation_in_flight FROM payments WHERE cart_id = $1 AND status = 'pending'", cart_id
    )
    return value is not None


async def sale_held(nv: httpx.AsyncClient) -> bool:
    """The sandbox has received a sale and holds it for its latency. The service commits the intent before
    it sends the sale, so a test that kills the service mid-charge waits for this, not for the ledger."""
    return bool((await nv.get("/_sandbox/held")).json().get("/sale"))


NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)


@dataclass
class FaultStack(Stack):
    """The service (in-process, with its own real HTTP client) talking to a sandbox on a socket."""

    server: SandboxServer

    async def pay(self, cart: CartRows, token: str, key: str | None = None) -> httpx.Response:
        headers = {**self.storefront, **({"Idempotency-Key": key} if key else {})}
        return await self.client.post(
            "/api/v1/netvalve/payment",
            json={"cart_id": cart.cart_id, "payment_token": token},
            headers=headers,
            timeout=30,
        )

    async def money(self, operation: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = {**self.service, **({"Idempotency-Key": key} if key else {})}
        return await self.client.post(f"/api/v1/netvalve/{operation}", json=body, headers=headers, timeout=30)

    async def outlive_open_calls(self) -> None:
        """Wait out the longest a call can still be on its way: only then does "not found" prove anything."""
        await asyncio.sleep(worst_case_call_seconds(self.app.state.settings))

    async def reconcile(self) -> dict[str, Any]:
        response = await self.client.post("/api/v1/netvalve/reconcile", json={}, headers=self.service)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def sandbox_transactions(self, kind: str | None = None) -> list[dict[str, Any]]:
        response = await self.nv.get("/_sandbox/transactions")
        assert response.status_code == 200, response.text
        data = response.json()
        rows = list(data["transactions"] if isinstance(data, dict) else data)
        return [row for row in rows if kind is None or row["type"] == kind]

    async def payment(self, cart_id: str) -> Payment:
        async with self.app.state.sessionmaker() as db:
            result = await db.execute(
                select(Payment).where(Payment.cart_id == cart_id).order_by(Payment.id.desc()).limit(1)
            )
            return result.scalar_one()

    async def calls(self, payment_id: int) -> list[GatewayTransaction]:
        async with self.app.state.sessionmaker() as db:
            result = await db.execute(
                select(GatewayTransaction)
                .where(GatewayTransaction.payment_id == payment_id)
                .order_by(GatewayTransaction.id)
            )
            return list(result.scalars().all())


async def open_fault_stack(
    db: str,
    server: SandboxServer,
    nv: httpx.AsyncClient,
    medusa_conn: asyncpg.Connection,
    **overrides: Any,
) -> AsyncIterator[FaultStack]:
    app = create_app(fault_settings(db, server.url, **overrides))
    key = await create_publishable_key(medusa_conn)
    async for client in start_app(app):
        yield FaultStack(client=client, nv=nv, server=server, conn=medusa_conn, app=app, publishable_key=key)


async def wait_until(predicate: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail the test when ``seconds`` have passed."""
    interval = 0.05
    for _ in range(int(seconds / interval)):
        if await predicate():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not reached within {seconds}s")


@dataclass
class OwnDatabase:
    """A database on the faults tests' own cluster, which they may stop and start at will."""

    cluster: Cluster
    dsn: str

    async def stop(self, mode: str = "fast") -> None:
        # pg_ctl blocks: run it off the loop so the in-process service keeps answering meanwhile.
        await asyncio.to_thread(self.cluster.stop, mode)

    async def start(self) -> None:
        await asyncio.to_thread(self.cluster.start)


async def migrated_database(cluster: Cluster, name: str) -> str:
    """A fresh database with the Medusa fixture schema and our migrations, like the session one."""
    dsn = await recreate_database(cluster.admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(MEDUSA_FIXTURE_SCHEMA.read_text())
    finally:
        await conn.close()
    await asyncio.to_thread(run_alembic, dsn, "upgrade", "head")
    return dsn


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests on and remembers each one's body, answer status and time span."""

    def __init__(self) -> None:
        # Set once the app it fronts exists (the sandbox and the service need each other's clients).
        self.inner: httpx.AsyncBaseTransport | None = None
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.inner is not None, "RecordingTransport used before its inner transport was set"
        started = time.monotonic()
        body = await request.aread()
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        except Exception as exc:
            self.exchanges.append(
                Exchange(request.url.path, body, started, time.monotonic(), None, repr(exc))
            )
            raise
        self.exchanges.append(
            Exchange(request.url.path, body, started, time.monotonic(), response.status_code, response.text)
        )
        return response


@dataclass(frozen=True)
class Exchange:
    path: str
    body: bytes
    started: float
    ended: float
    status: int | None
    answer: str

    def within(self, start: float, end: float) -> bool:
        return start <= self.started and self.ended <= end


class ServiceProcess:
    """The service as ops runs it: uvicorn in its own process, configured through the environment."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env = env
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.main:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def service_env(dsn: str, sandbox_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "APP_ENV": "test",
        "LOG_FORMAT": "console",
        "DATABASE_URL": dsn,
        "NETVALVE_ENVIRONMENT": "sandbox",
        "NETVALVE_API_KEY": "sandbox-api-key",
        "NETVALVE_CLIENT_ID": "sandbox-client",
        "NETVALVE_PAYMENT_API_URL": sandbox_url,
        "NETVALVE_HPP_BASE_URL": sandbox_url,
        "NETVALVE_BACKOFFICE_API_URL": sandbox_url,
        "NETVALVE_MID_ID_EUR": EUR_MID,
        "NETVALVE_MID_ID_USD": USD_MID,
        "NETVALVE_READ_TIMEOUT_SECONDS": "15",
        "SERVICE_API_KEYS": SERVICE_KEY,
        "NETVALVE_WEBHOOK_AUTH_HEADER": WEBHOOK_HEADER,
        "NETVALVE_WEBHOOK_AUTH_VALUES": WEBHOOK_SECRET,
        "WEBHOOK_WORKER_ENABLED": "false",
        "RECONCILE_INTERVAL_SECONDS": "0",
        "RECONCILE_MIN_AGE_SECONDS": "0",
    }
