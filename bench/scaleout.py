"""Scale-out proof: three replicas of the service on one PostgreSQL behind HAProxy, one of them SIGKILLed.

    scripts/scaleout.sh [--duration 60] [--kill-at 20] [--down 10] [--throughput-seconds 15] [--report PATH]

Starts, on 127.0.0.1 only: a durable PostgreSQL cluster, the NetValve sandbox (every webhook delivered twice,
through the balancer), three uvicorn replicas of the service (each with its webhook worker, reconciler and
outbox sender on), HAProxy from Debian's package in front of them (round robin, health check ``GET /ready``)
and a receiver standing in for Medusa's payment hook. Checkouts (HPF session, tokenization at the sandbox,
payment) and status reads run through the balancer while one replica is SIGKILLed and started again. Then
the invariants are checked from the database, the sandbox's ledger and the receiver's log, and a throughput
pass runs with 1, 2 and 3 replicas. Prints a markdown report (also to ``--report``); exits 1 when an
invariant fails. Every process it started is stopped on exit, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from bench.load import TEST_CARD
from bench.run import (
    API,
    EUR_MID,
    PYTHON,
    ROOT,
    SERVICE_KEY,
    UNREACHED_RATE_LIMITS,
    USD_MID,
    WEBHOOK_HEADER,
    WEBHOOK_SECRET,
    Stack,
    create_carts,
    fetch,
    load_average,
    machine,
    migrate,
)
from devtools.pgcluster import Cluster, free_port, wait_for_port

REPLICAS = 3
KILLED = 1  # index of the replica that is SIGKILLed (the second one)
NETVALVE_API_KEY = "sandbox-api-key-0123456789abcdef"
MEDUSA_SECRET = "scaleout-medusa-secret-0123456789"  # noqa: S105  (a throwaway local stack)
RECEIVER_PATH = "/hooks/payment/netvalve_netvalve"
# How long a checkout keeps retrying its payment (same Idempotency-Key) through errors.
PAY_RETRY_SECONDS = 90.0
STARTUP_SECONDS = 60.0
# Errors this long after the restarted replica answers /ready still count to the kill window: HAProxy needs
# two passing checks to put it back.
WINDOW_GRACE_SECONDS = 3.0
# A killed replica refuses the check's connection at once: two refusals half a second apart take it out. A
# live replica on saturated cores may answer /ready slowly, so the check waits up to 3 s before failing.
CHECK_DEFAULTS = "inter 1s fastinter 500ms fall 2 rise 2"
CHECK_TIMEOUT = "3s"
APPROVED = "GTW_1000"
WARM_UP_SECONDS = 3.0
CARD = {"cardNumber": TEST_CARD, "expiryMonth": "12", "expiryYear": "2030", "cvv": "999"}


def log(message: str) -> None:
    sys.stderr.write(f"[scaleout {datetime.now(UTC):%H:%M:%S}] {message}\n")
    sys.stderr.flush()


# --- the receiver standing in for Medusa's hook -----------------------------------------------------


@dataclass(frozen=True)
class Forward:
    event_id: str
    action: str
    session_id: str
    signature_ok: bool


def signature_ok(secret: str, headers: dict[bytes, bytes], body: bytes) -> bool:
    """``x-netvalve-signature: sha256=<HMAC-SHA256(secret, "<x-netvalve-timestamp>.<body>")>``."""
    timestamp = headers.get(b"x-netvalve-timestamp", b"")
    digest = hmac.new(secret.encode(), timestamp + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get(b"x-netvalve-signature", b"").decode(), f"sha256={digest}")


class Receiver:
    """An ASGI app that records every POST it gets and answers 200."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.forwards: list[Forward] = []
        self.malformed = 0

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        try:
            payload = json.loads(body)
            self.forwards.append(
                Forward(
                    str(payload["event_id"]),
                    str(payload["action"]),
                    str(payload["data"]["session_id"]),
                    signature_ok(self.secret, headers, body),
                )
            )
            status = 200
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
            status = 400
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})


# --- processes --------------------------------------------------------------------------------------


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise SystemExit("haproxy not found: apt-get install haproxy (scripts/scaleout.sh does it as root)")
    return found


def haproxy_config(port: int, servers: list[int], socket_path: Path) -> str:
    lines = [
        "global",
        "    log stderr format iso local0 notice",
        f"    stats socket {socket_path} mode 600 level admin",
        "    maxconn 2000",
        "defaults",
        "    mode http",
        "    log global",
        "    option forwardfor",
        # A connection refused by a dead replica is retried on another one; a request already sent is not.
        "    option redispatch",
        "    retries 2",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        f"    timeout check {CHECK_TIMEOUT}",
        "frontend service",
        f"    bind 127.0.0.1:{port}",
        "    default_backend replicas",
        "backend replicas",
        "    balance roundrobin",
        "    option httpchk GET /ready",
        "    http-check expect status 200",
        f"    default-server {CHECK_DEFAULTS}",
    ]
    lines += [f"    server r{i + 1} 127.0.0.1:{server} check" for i, server in enumerate(servers)]
    return "\n".join(lines) + "\n"


def uvicorn_command(app: str, port: int, *options: str) -> list[str]:
    return [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), *options]


def send_signal(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


async def stop_process(process: subprocess.Popen[bytes]) -> None:
    send_signal(process, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.to_thread(process.wait), 30)
    except TimeoutError:
        send_signal(process, signal.SIGKILL)
        await asyncio.to_thread(process.wait)


async def answers_200(client: httpx.AsyncClient, url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await client.get(url, timeout=2)).status_code == 200
    return False


async def wait_200(
    client: httpx.AsyncClient, url: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process behind {url} exited (code {process.returncode}); see its log")
        if await answers_200(client, url):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {STARTUP_SECONDS:g} s")


@dataclass
class Deployment:
    """The stack on 127.0.0.1: database, sandbox, replicas, balancer, receiver."""

    stack: Stack
    http: httpx.AsyncClient
    dsn: str = ""
    lb_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    receiver_port: int = field(default_factory=free_port)
    replica_ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(REPLICAS)])
    replicas: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def base_env(self) -> dict[str, str]:
        return {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TZ") if name in os.environ}

    def replica_env(self) -> dict[str, str]:
        sandbox = self.sandbox_url
        return {
            **self.base_env(),
            # Not production: it refuses the sandbox's plain-http URLs. The request path is the same.
            "APP_ENV": "development",
            "LOG_FORMAT": "json",
            "DATABASE_URL": self.dsn,
            "DB_POOL_SIZE": "10",
            "DB_MAX_OVERFLOW": "5",
            "NETVALVE_ENVIRONMENT": "sandbox",
            "NETVALVE_API_KEY": NETVALVE_API_KEY,
            "NETVALVE_CLIENT_ID": "sandbox-client",
            "NETVALVE_PAYMENT_API_URL": sandbox,
            "NETVALVE_HPP_BASE_URL": sandbox,
            "NETVALVE_BACKOFFICE_API_URL": sandbox,
            "NETVALVE_MID_ID_EUR": EUR_MID,
            "NETVALVE_MID_ID_USD": USD_MID,
            "NETVALVE_RETURN_BASE_URL": self.lb_url,
            "NETVALVE_CONNECT_TIMEOUT_SECONDS": "1",
            "NETVALVE_READ_TIMEOUT_SECONDS": "10",
            "SERVICE_API_KEYS": SERVICE_KEY,
            "NETVALVE_WEBHOOK_AUTH_HEADER": WEBHOOK_HEADER,
            "NETVALVE_WEBHOOK_AUTH_VALUES": WEBHOOK_SECRET,
            "TRUSTED_PROXIES": "127.0.0.1/32",
            # Every replica runs all background work: the point is that they share it safely.
            "WEBHOOK_WORKER_ENABLED": "true",
            "WEBHOOK_RETRY_BASE_SECONDS": "1",
            "WEBHOOK_RETRY_MAX_SECONDS": "10",
            "RECONCILE_INTERVAL_SECONDS": "5",
            # Above connect + read timeout, so a live request records its own answer first.
            "RECONCILE_MIN_AGE_SECONDS": "15",
            # A payment whose replica died is retried by the client with the same key: take it over soon.
            "IDEMPOTENCY_LEASE_SECONDS": "20",
            "MEDUSA_WEBHOOK_URL": f"http://127.0.0.1:{self.receiver_port}{RECEIVER_PATH}",
            "MEDUSA_WEBHOOK_SECRET": MEDUSA_SECRET,
            # Longer than the balancer keeps an idle connection to a replica: with uvicorn's default (5 s)
            # a replica may close one just as HAProxy sends a request on it, which the client sees as a
            # connection closed without an answer. An ALB (idle timeout 60 s) needs the same.
            "UVICORN_TIMEOUT_KEEP_ALIVE": "75",
            **UNREACHED_RATE_LIMITS,
        }

    def sandbox_env(self) -> dict[str, str]:
        return {
            **self.base_env(),
            "SANDBOX_API_KEY": NETVALVE_API_KEY,
            "SANDBOX_PUBLIC_URL": self.sandbox_url,
            "SANDBOX_WEBHOOK_URL": f"{self.lb_url}{API}/webhook",
            "SANDBOX_WEBHOOK_HEADER_NAME": WEBHOOK_HEADER,
            "SANDBOX_WEBHOOK_HEADER_VALUE": WEBHOOK_SECRET,
            "SANDBOX_DUPLICATE_WEBHOOKS": "true",
            # Longer than the kill window, as NetValve's own schedule (15 min ... 24 h) is.
            "SANDBOX_WEBHOOK_RETRY_SCHEDULE": "[1, 2, 4, 8, 16, 32]",
            "SANDBOX_LATENCY_MS": "30",
        }

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.starts[name] += 1
        run = self.starts[name]
        return self.stack.spawn(name if run == 1 else f"{name}-run{run}", args, env)

    async def start_database(self, carts: int) -> dict[str, Any]:
        os.chmod(self.stack.work, 0o755)  # noqa: S103  (the postgres user must traverse it)
        cluster = Cluster(self.stack.work / "pg", free_port())
        self.stack.cluster = cluster
        await asyncio.to_thread(cluster.start, durable=True, max_connections=300)
        self.dsn = await asyncio.to_thread(cluster.create_database, "netvalve")
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute((ROOT / "tests" / "fixtures" / "medusa_schema.sql").read_text())
        finally:
            await conn.close()
        await asyncio.to_thread(migrate, self.dsn)
        return await create_carts(self.dsn, carts)

    async def start_sandbox(self) -> None:
        process = self.spawn(
            "sandbox",
            uvicorn_command("netvalve_sandbox.main:app", self.sandbox_port, "--no-access-log"),
            self.sandbox_env(),
        )
        await wait_200(self.http, f"{self.sandbox_url}/_sandbox/health", process)

    def start_replica(self, index: int) -> subprocess.Popen[bytes]:
        process = self.spawn(
            f"replica-{index + 1}",
            uvicorn_command("app.main:app", self.replica_ports[index], "--no-server-header"),
            self.replica_env(),
        )
        self.replicas[index] = process
        return process

    async def replica_ready(self, index: int) -> None:
        await wait_200(self.http, f"http://127.0.0.1:{self.replica_ports[index]}/ready", self.replicas[index])

    async def set_replicas(self, count: int) -> None:
        """Exactly the first ``count`` replicas running and in HAProxy's rotation.

        A replica leaves the rotation (maintenance) before it is stopped, as a deployment drains a task."""
        for index in range(REPLICAS):
            running = index in self.replicas and self.replicas[index].poll() is None
            if index >= count and running:
                await self.haproxy_command(f"set server replicas/r{index + 1} state maint")
                await stop_process(self.replicas.pop(index))
            elif index < count and not running:
                self.start_replica(index)
        for index in range(count):
            await self.replica_ready(index)
            await self.haproxy_command(f"set server replicas/r{index + 1} state ready")
        await self.wait_up(count)

    async def start_haproxy(self) -> None:
        config = self.stack.work / "haproxy.cfg"
        config.write_text(haproxy_config(self.lb_port, self.replica_ports, self.stack.work / "haproxy.sock"))
        binary = haproxy_binary()
        checked = await asyncio.to_thread(
            subprocess.run,
            [binary, "-c", "-q", "-f", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode != 0:
            raise RuntimeError(f"haproxy refused {config}: {checked.stdout}{checked.stderr}")
        self.stack.spawn("haproxy", [binary, "-db", "-f", str(config)], self.base_env())
        await asyncio.to_thread(wait_for_port, self.lb_port)

    async def wait_up(self, count: int) -> None:
        """Until HAProxy's checks have put ``count`` replicas UP."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            stats = await self.haproxy_stats()
            if sum(1 for row in stats if row["status"] == "UP") == count:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"haproxy did not see {count} replicas UP")

    async def haproxy_command(self, command: str) -> str:
        """One command on HAProxy's admin socket."""

        def ask() -> str:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(5)
                conn.connect(str(self.stack.work / "haproxy.sock"))
                conn.sendall(command.encode() + b"\n")
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            return b"".join(chunks).decode()

        return await asyncio.to_thread(ask)

    async def haproxy_stats(self) -> list[dict[str, str]]:
        """``show stat`` of the backend's servers."""
        rows = csv.DictReader(io.StringIO((await self.haproxy_command("show stat")).lstrip("# ")))
        return [r for r in rows if r["pxname"] == "replicas" and r["svname"] not in ("BACKEND", "FRONTEND")]

    async def settle(self, seconds: float) -> dict[str, int]:
        """Wait until the sandbox delivered every webhook and no work is left in the database."""
        started = time.monotonic()
        await self.http.post(
            f"{self.sandbox_url}/_sandbox/webhooks/drain", params={"timeout": seconds}, timeout=seconds + 10
        )
        query = """
            SELECT
              (SELECT count(*) FROM webhook_events WHERE status IN ('received', 'pending')) AS webhooks_due,
              (SELECT count(*) FROM webhook_outbox WHERE status = 'pending') AS outbox_pending,
              (SELECT count(*) FROM payments
                WHERE status IN ('pending', 'unknown') OR operation_in_flight IS NOT NULL) AS payments_open
        """
        while True:
            left = dict((await fetch(self.dsn, query))[0])
            if not any(left.values()) or time.monotonic() - started > seconds:
                break
            await asyncio.sleep(1)
        left["seconds"] = round(time.monotonic() - started)
        return left


# --- load through the balancer ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    at: float
    kind: str
    result: str  # the HTTP status, or the exception's class name


@dataclass
class CartResult:
    cart_id: str
    session_id: str
    pay_attempts: int = 0
    final: str = "not reached"  # the last pay answer: "captured", another status, or an error


@dataclass
class MixedLoad:
    """Checkouts and status reads through the balancer until ``deadline``."""

    deployment: Deployment
    publishable_key: str
    carts: list[dict[str, str]]
    deadline: float
    outcomes: list[Outcome] = field(default_factory=list)
    results: list[CartResult] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)

    async def request(
        self, client: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.outcomes.append(Outcome(time.monotonic(), kind, type(exc).__name__))
            return None
        self.outcomes.append(Outcome(time.monotonic(), kind, str(response.status_code)))
        return response

    async def checkout(self, client: httpx.AsyncClient, cart: dict[str, str]) -> None:
        lb = self.deployment.lb_url
        storefront = {"x-publishable-api-key": self.publishable_key}
        result = CartResult(cart["cart_id"], cart["session_id"])
        self.results.append(result)
        token = None
        for _ in range(5):
            session = await self.request(
                client,
                "hpf_session",
                "POST",
                f"{lb}{API}/hpf/session",
                json={"cart_id": result.cart_id},
                headers=storefront,
            )
            if session is not None and session.status_code == 200:
                token = session.json()["hpf"]["payment_token"]
                break
            await asyncio.sleep(0.5)
        if token is None:
            result.final = "no HPF session"
            return
        card = {"paymentToken": token, **CARD}
        tokenized = await client.post(f"{self.deployment.sandbox_url}/_sandbox/tokenize", json=card)
        tokenized.raise_for_status()
        # What a storefront does: the same Idempotency-Key until it gets an answer.
        headers = {**storefront, "Idempotency-Key": f"scaleout-pay-{result.cart_id}"}
        body = {"cart_id": result.cart_id, "payment_token": token}
        give_up = time.monotonic() + PAY_RETRY_SECONDS
        while time.monotonic() < give_up:
            result.pay_attempts += 1
            paid = await self.request(client, "pay", "POST", f"{lb}{API}/payment", json=body, headers=headers)
            if paid is not None and paid.status_code == 200:
                result.final = str(paid.json().get("status"))
                if result.final == "captured":
                    self.paid.append(result.cart_id)
                return
            result.final = "error" if paid is None else f"HTTP {paid.status_code}"
            if paid is not None and paid.status_code not in (409, 502, 503, 504):
                return
            await asyncio.sleep(0.5)

    async def checkout_worker(self, client: httpx.AsyncClient, queue: list[dict[str, str]]) -> None:
        while queue and time.monotonic() < self.deadline:
            await self.checkout(client, queue.pop())

    async def status_worker(self, client: httpx.AsyncClient, seed: int) -> None:
        rng = random.Random(seed)  # picking carts, not security
        headers = {"authorization": f"Bearer {SERVICE_KEY}"}
        while time.monotonic() < self.deadline:
            if not self.paid:
                await asyncio.sleep(0.1)
                continue
            cart_id = rng.choice(self.paid)
            await self.request(
                client,
                "status",
                "GET",
                f"{self.deployment.lb_url}{API}/status",
                params={"cart_id": cart_id},
                headers=headers,
            )

    async def run(self, checkout_concurrency: int, status_concurrency: int) -> None:
        queue = list(reversed(self.carts))
        limits = httpx.Limits(max_connections=checkout_concurrency + status_concurrency + 8)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            await asyncio.gather(
                *(self.checkout_worker(client, queue) for _ in range(checkout_concurrency)),
                *(self.status_worker(client, seed) for seed in range(status_concurrency)),
            )


@dataclass
class KillTimeline:
    started: float
    killed: float = 0.0
    restarted: float = 0.0
    ready: float = 0.0
    killed_pid: int = 0
    wall_clock: dict[str, str] = field(default_factory=dict)

    def mark(self, event: str) -> float:
        self.wall_clock[event] = f"{datetime.now(UTC):%H:%M:%S.%f}"[:-3]
        return time.monotonic()

    def window(self, at: float) -> str:
        if at < self.killed:
            return "before the kill"
        if at < self.ready + WINDOW_GRACE_SECONDS:
            return "kill to back in rotation"
        return "after"


async def kill_and_restart(
    deployment: Deployment, timeline: KillTimeline, kill_at: float, down: float
) -> None:
    await asyncio.sleep(max(0.0, timeline.started + kill_at - time.monotonic()))
    victim = deployment.replicas[KILLED]
    timeline.killed_pid = victim.pid
    send_signal(victim, signal.SIGKILL)
    timeline.killed = timeline.mark("SIGKILL")
    await asyncio.to_thread(victim.wait)
    log(f"SIGKILLed replica r{KILLED + 1} (pid {victim.pid}); restarting it in {down:g} s")
    await asyncio.sleep(down)
    deployment.start_replica(KILLED)
    timeline.restarted = timeline.mark("restart")
    await deployment.replica_ready(KILLED)
    timeline.ready = timeline.mark("/ready 200")
    log(f"replica r{KILLED + 1} answers /ready again")


# --- invariants -----------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    evidence: str


async def invariants(
    deployment: Deployment, receiver: Receiver, carts: list[CartResult]
) -> tuple[list[Check], dict[str, Any]]:
    """Every invariant of the issue, each from the database, the sandbox's ledger or the receiver's log."""
    dsn = deployment.dsn
    checks: list[Check] = []
    hooks = (await deployment.http.get(f"{deployment.sandbox_url}/_sandbox/webhooks")).json()
    emitted = {(e["eventName"], e["data"].get("transactionId")) for e in hooks["events"]}
    deliveries = hooks["deliveries"]
    acknowledged = {
        (d["eventName"], d["transactionId"])
        for d in deliveries
        if d["statusCode"] and 200 <= d["statusCode"] < 300
    }
    failed_attempts = Counter(
        str(d["statusCode"] or (d["error"] or "error").split(":")[0])
        for d in deliveries
        if not (d["statusCode"] and 200 <= d["statusCode"] < 300)
    )
    given_up = [d for d in deliveries if d["result"] == "gave_up"]
    rows = await fetch(
        dsn, "SELECT event_name, netvalve_transaction_id, count(*) AS n FROM webhook_events GROUP BY 1, 2"
    )
    stored = {(r["event_name"], r["netvalve_transaction_id"]): r["n"] for r in rows}
    twice = {key: n for key, n in stored.items() if n != 1}
    checks.append(
        Check(
            "every distinct event stored once",
            not twice and set(stored) == emitted,
            f"{len(emitted)} distinct events emitted by the sandbox, {len(deliveries)} delivery attempts "
            f"({sum(1 for d in deliveries if d['copy'] == 2)} of them duplicate copies);"
            f" {len(stored)} rows in "
            f"webhook_events, {len(twice)} events stored more than once, "
            f"{len(emitted - set(stored))} emitted but not stored",
        )
    )
    lost = acknowledged - set(stored)
    checks.append(
        Check(
            "no acknowledged event lost",
            not lost,
            f"{len(acknowledged)} events acknowledged with 2xx, {len(lost)} of them missing:"
            f" {sorted(lost)[:5]}",
        )
    )
    checks.append(
        Check(
            "every emitted event acknowledged in the end",
            not given_up and emitted == acknowledged,
            f"{len(given_up)} deliveries given up; non-2xx attempts (retried by the sandbox): "
            f"{dict(failed_attempts) or 'none'}",
        )
    )
    by_status = await fetch(dsn, "SELECT status, count(*) AS n FROM webhook_events GROUP BY 1")
    statuses = {r["status"]: r["n"] for r in by_status}
    doubled = await fetch(
        dsn,
        "SELECT webhook_event_id, count(*) AS n FROM webhook_outbox WHERE webhook_event_id IS NOT NULL"
        " GROUP BY 1 HAVING count(*) > 1",
    )
    unprocessed = sum(n for status, n in statuses.items() if status != "processed")
    checks.append(
        Check(
            "every distinct event processed once",
            unprocessed == 0 and not doubled,
            f"webhook_events by status {statuses}; events with more than one outbox row: {len(doubled)}",
        )
    )

    ledger = (await deployment.http.get(f"{deployment.sandbox_url}/_sandbox/transactions")).json()
    cart_of_session = {c.session_id: c.cart_id for c in carts}
    sandbox_sales: Counter[str] = Counter()
    for txn in ledger:
        session = str(txn.get("clientOrderId") or "").rsplit("-", 1)[0]
        if txn.get("type") == "SALE" and txn.get("responseCode") == APPROVED and session in cart_of_session:
            sandbox_sales[cart_of_session[session]] += 1
    payments = await fetch(
        dsn,
        """
        SELECT p.cart_id, p.status, p.payment_session_id,
               count(t.id) FILTER (WHERE t.operation = 'sale' AND t.outcome = 'approved') AS sales
        FROM payments p LEFT JOIN payment_transactions t ON t.payment_id = p.id
        WHERE p.cart_id = ANY($1::text[]) GROUP BY p.id
        """,
        [c.cart_id for c in carts],
    )
    payments_of: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for payment in payments:
        payments_of[payment["cart_id"]].append(payment)
    over_sold = {cart: n for cart, n in sandbox_sales.items() if n > 1}
    client_captured = [c.cart_id for c in carts if c.final == "captured"]
    checks.append(
        Check(
            "exactly one sale per cart at the sandbox",
            not over_sold and all(sandbox_sales[c] == 1 for c in client_captured),
            f"{len(carts)} carts in the pool, {len(payments_of)} with a payment,"
            f" {len(client_captured)} answered captured to the mixed run's client, "
            f"{sum(sandbox_sales.values())} approved sales at the sandbox for {len(sandbox_sales)} carts, "
            f"carts with more than one sale: {over_sold or 'none'}",
        )
    )
    disagree = []
    for result in carts:
        captured = [p for p in payments_of[result.cart_id] if p["status"] == "captured"]
        sold = sandbox_sales[result.cart_id]
        if len(captured) != sold or any(p["sales"] != 1 for p in captured):
            disagree.append(
                f"{result.cart_id}: sandbox {sold},"
                f" ledger {[(p['status'], p['sales']) for p in payments_of[result.cart_id]]}"
            )
    checks.append(
        Check(
            "the ledger agrees with the sandbox for every cart",
            not disagree,
            f"{len(payments)} payment rows; carts that disagree: {len(disagree)} {disagree[:5]}",
        )
    )

    outbox = await fetch(
        dsn,
        "SELECT payment_session_id, action, status, payload->>'event_id' AS event_id FROM webhook_outbox",
    )
    delivered = {(r["payment_session_id"], r["action"]) for r in outbox if r["status"] == "delivered"}
    captured_sessions = {p["payment_session_id"] for p in payments if p["status"] == "captured"}
    not_forwarded = sorted(s for s in captured_sessions if (s, "captured") not in delivered)
    outbox_open = Counter(r["status"] for r in outbox if r["status"] != "delivered")
    received_ids = {f.event_id for f in receiver.forwards}
    missing_at_receiver = {r["event_id"] for r in outbox if r["status"] == "delivered"} - received_ids
    checks.append(
        Check(
            "every ledger change forwarded to the receiver",
            not not_forwarded and not outbox_open and not missing_at_receiver,
            f"{len(captured_sessions)} captured payments, {len(outbox)} outbox rows"
            f" ({dict(outbox_open) or 'none'} not delivered), not forwarded: {len(not_forwarded)}"
            f" {not_forwarded[:5]}; delivered but not seen by"
            f" the receiver: {len(missing_at_receiver)}",
        )
    )
    actions_by_event: dict[str, set[str]] = defaultdict(set)
    actions_by_session: dict[str, set[str]] = defaultdict(set)
    for forward in receiver.forwards:
        actions_by_event[forward.event_id].add(forward.action)
        actions_by_session[forward.session_id].add(forward.action)
    conflicting = {e: a for e, a in actions_by_event.items() if len(a) > 1}
    mixed_sessions = {s: a for s, a in actions_by_session.items() if len(a) > 1}
    redelivered = sum(n - 1 for n in Counter(f.event_id for f in receiver.forwards).values() if n > 1)
    bad_signatures = sum(1 for f in receiver.forwards if not f.signature_ok)
    checks.append(
        Check(
            "never two different actions for one event",
            not conflicting and not mixed_sessions,
            f"{len(receiver.forwards)} POSTs received for {len(received_ids)} distinct events "
            f"({redelivered} at-least-once redeliveries of an event already received); events with two"
            f" actions: {len(conflicting)}; payment sessions with two actions: {len(mixed_sessions)}"
            f" {list(mixed_sessions.items())[:3]}",
        )
    )
    checks.append(
        Check(
            "every forward signed with MEDUSA_WEBHOOK_SECRET",
            bad_signatures == 0 and receiver.malformed == 0,
            f"{bad_signatures} bad signatures, {receiver.malformed} malformed bodies",
        )
    )
    finals = Counter(c.final for c in carts)
    attempts = Counter(c.pay_attempts for c in carts)
    late = await fetch(
        dsn,
        """
        SELECT 'webhook events processed' AS what, count(*) FILTER (WHERE s > 60) AS late, max(s) AS slowest
        FROM (SELECT extract(epoch FROM processed_at - received_at) AS s FROM webhook_events) e
        UNION ALL
        SELECT 'outbox rows delivered', count(*) FILTER (WHERE s > 60), max(s)
        FROM (SELECT extract(epoch FROM delivered_at - created_at) AS s FROM webhook_outbox) o
        """,
    )
    recovery = "; ".join(
        f"{r['what']} more than 60 s after arriving: {r['late']} (slowest {float(r['slowest'] or 0):.0f} s)"
        for r in late
    )
    retried = [c for c in carts if c.pay_attempts > 1]
    calls = await fetch(
        dsn,
        """
        SELECT p.cart_id, p.id, p.status, t.operation, t.outcome, t.netvalve_transaction_id
        FROM payments p JOIN payment_transactions t ON t.payment_id = p.id
        WHERE p.cart_id = ANY($1::text[]) ORDER BY t.id
        """,
        [c.cart_id for c in retried],
    )
    ledger_calls: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for call in calls:
        ledger_calls[call["cart_id"]].append((call["id"], call["status"], call["operation"], call["outcome"]))
    stories = [
        f"{c.cart_id}: {c.pay_attempts} attempts, final answer {c.final}; ledger (payment, status, call,"
        f" outcome) {ledger_calls[c.cart_id]}; approved sales at the sandbox: {sandbox_sales[c.cart_id]}"
        for c in retried
    ]
    return checks, {
        "client_finals": dict(finals),
        "pay_attempts": dict(sorted(attempts.items())),
        "recovery": recovery,
        "retried": stories,
    }


# --- throughput -----------------------------------------------------------------------------------


async def run_load(deployment: Deployment, spec: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One bench/load.py run (its own process, so it does not share this event loop)."""
    spec = {"host": "127.0.0.1", "port": deployment.lb_port, "max_seconds": seconds, **spec}
    path = deployment.stack.work / "spec.json"
    path.write_text(json.dumps(spec))
    process = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "bench.load", str(path), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), seconds + 120)
    if process.returncode != 0:
        raise RuntimeError(f"bench.load failed: {err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


async def throughput(
    deployment: Deployment, demo: dict[str, Any], carts: list[dict[str, str]], paid: list[str], seconds: float
) -> list[dict[str, Any]]:
    rows = []
    per_pass = len(carts) // REPLICAS
    reads = {
        "kind": "status",
        "count": 10_000_000,
        "concurrency": 32,
        "path": f"{API}/status",
        "cart_ids": paid,
        "headers": {"authorization": f"Bearer {SERVICE_KEY}"},
    }
    for count in range(1, REPLICAS + 1):
        await deployment.set_replicas(count)
        # Unmeasured: a replica just started fills its connection pools on its first requests.
        await run_load(deployment, reads, WARM_UP_SECONDS)
        await deployment.settle(60)
        load_before = load_average()
        status = await run_load(deployment, reads, seconds)
        await deployment.settle(60)
        batch = carts[(count - 1) * per_pass : count * per_pass]
        checkout = await run_load(
            deployment,
            {
                "kind": "checkout",
                "concurrency": 16,
                "sandbox_port": deployment.sandbox_port,
                "publishable_key": demo["publishable_key"],
                "cart_ids": [c["cart_id"] for c in batch],
                "session_path": f"{API}/hpf/session",
                "pay_path": f"{API}/payment",
            },
            seconds,
        )
        rows.append(
            {"replicas": count, "status": status, "checkout": checkout, "load": [load_before, load_average()]}
        )
        log(
            f"{count} replica(s): status {status['requests_per_s']:.0f} req/s, checkout"
            f" {checkout['requests_per_s']:.0f} req/s ({checkout['units']} carts), errors"
            f" {status['errors']}/{checkout['errors']}"
        )
    return rows


# --- report ---------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def p50_p99(result: dict[str, Any], label: str) -> str:
    latency = result["latency"].get(label)
    return "n/a" if latency is None else f"{latency['p50_ms']:.0f} / {latency['p99_ms']:.0f}"


def checks_table(checks: list[Check]) -> str:
    return table(
        ["invariant", "result", "evidence"],
        [[c.name, "PASS" if c.ok else "**FAIL**", c.evidence] for c in checks],
    )


# show stat column -> what the report calls it
HAPROXY_COLUMNS = {
    "svname": "server",
    "status": "status",
    "stot": "sessions",
    "hrsp_2xx": "2xx",
    "hrsp_5xx": "5xx",
    "econ": "connection errors",
    "eresp": "response errors",
    "wretr": "retries",
    "wredis": "redispatches",
    "chkdown": "went down",
    "downtime": "seconds down",
}
WINDOWS = ("before the kill", "kill to back in rotation", "after")


def requests_table(timeline: KillTimeline, load: MixedLoad) -> str:
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for outcome in load.outcomes:
        counts[(timeline.window(outcome.at), outcome.kind)][outcome.result] += 1
    rows = []
    for window in WINDOWS:
        for kind in ("hpf_session", "pay", "status"):
            results = counts[(window, kind)]
            errors = {result: n for result, n in results.items() if result != "200"}
            rows.append([window, kind, results["200"], sum(errors.values()), errors or ""])
    return table(["window", "request", "200", "errors", "error kinds"], rows)


def throughput_table(passes: list[dict[str, Any]]) -> str:
    header = [
        "replicas",
        "status req/s",
        "status p50 / p99 ms",
        "status errors",
        "checkout service req/s",
        "carts paid",
        "pay p50 / p99 ms",
        "checkout errors",
        "load avg before -> after",
    ]
    rows = [
        [
            p["replicas"],
            f"{p['status']['requests_per_s']:.0f}",
            p50_p99(p["status"], "status"),
            p["status"]["errors"],
            f"{p['checkout']['requests_per_s']:.0f}",
            p["checkout"]["units"],
            p50_p99(p["checkout"], "pay"),
            p["checkout"]["errors"],
            f"{p['load'][0][0]} -> {p['load'][1][0]}",
        ]
        for p in passes
    ]
    return table(header, rows)


@dataclass
class Findings:
    timeline: KillTimeline
    load: MixedLoad
    haproxy_rows: list[dict[str, str]]
    haproxy_log: list[str]
    settled: list[dict[str, int]]
    checks: list[Check]
    client: dict[str, Any]
    final_checks: list[Check]
    passes: list[dict[str, Any]]


def report(args: argparse.Namespace, found: Findings) -> str:
    timeline = found.timeline
    t0 = timeline.started
    back = timeline.ready + WINDOW_GRACE_SECONDS
    lengths = [timeline.killed - t0, back - timeline.killed, args.duration - (back - t0)]
    mixed = (
        f"{args.duration:g} s of checkouts ({args.checkout_concurrency} concurrent: HPF session,"
        " tokenization at the sandbox, payment with an Idempotency-Key, retried with the same key on 409,"
        f" 502-504 and connection errors) and status reads ({args.status_concurrency} concurrent, paid carts)"
        " through HAProxy; the sandbox delivers every webhook twice, through HAProxy too. Replica"
        f" r{KILLED + 1} (pid {timeline.killed_pid}) was SIGKILLed at t={timeline.killed - t0:.1f} s, started"
        f" again at t={timeline.restarted - t0:.1f} s and answered /ready at t={timeline.ready - t0:.1f} s"
        f" (UTC: {timeline.wall_clock})."
    )
    overhead = (
        f"Each pass {args.throughput_seconds:g} s through HAProxy with bench/load.py: status reads (32"
        " concurrent, settled payments), then checkouts (16 concurrent, fresh carts, 30 ms sandbox latency)."
        " A replica is one uvicorn process, one event loop, so it uses at most one core. The replicas,"
        " PostgreSQL, the sandbox, HAProxy and the load generator share this machine's"
        f" {os.cpu_count()} cores, with other work on them: beyond what lets the service use both cores, each"
        " added replica is one more process competing for the same cores. These numbers show the overhead of"
        " several replicas on one small machine, not the speed-up that replicas on their own machines give."
    )
    parts = [
        "# Scale-out run: three replicas behind HAProxy, one SIGKILLed",
        "",
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} by"
        f" `scripts/scaleout.sh {' '.join(sys.argv[1:])}`. Machine: {machine()}.",
        "",
        "## Mixed run",
        "",
        mixed,
        "",
        requests_table(timeline, found.load),
        "",
        "Window lengths: " + ", ".join(f"{w} {d:.1f} s" for w, d in zip(WINDOWS, lengths, strict=True)) + ".",
        "",
        f"Checkout outcomes as the client saw them (final answer): {found.client['client_finals']};"
        f" payment attempts per cart: {found.client['pay_attempts']}. Checkouts whose payment was retried:",
        "",
        *(f"- {story}" for story in found.client["retried"] or ["none"]),
        "",
        "HAProxy's counters per replica at the end of the mixed run (`show stat`):",
        "",
        table(list(HAPROXY_COLUMNS.values()), [[r[c] for c in HAPROXY_COLUMNS] for r in found.haproxy_rows]),
        "",
        "HAProxy's log of the whole run (server state changes):",
        "",
        "```",
        *(found.haproxy_log or ["(nothing logged)"]),
        "```",
        "",
        f"Settling after the mixed run (sandbox drained; webhooks, outbox rows, open payments left):"
        f" {found.settled[0]}. Work the killed replica had claimed comes back when its lease (120 s) runs"
        f" out: {found.client['recovery']}.",
        "",
        "## Invariants",
        "",
        checks_table(found.checks),
        "",
        "Again over everything (the mixed run and the throughput passes), after settling"
        f" {found.settled[-1]}:",
        "",
        checks_table(found.final_checks),
        "",
        "## Throughput with 1, 2 and 3 replicas",
        "",
        overhead,
        "",
        throughput_table(found.passes),
        "",
        *(
            f"- {p['replicas']} replica(s), {kind} errors: {p[kind]['error_samples'][:3]}"
            for p in found.passes
            for kind in ("status", "checkout")
            if p[kind]["errors"]
        ),
        "",
    ]
    return "\n".join(parts)


# --- the run --------------------------------------------------------------------------------------


async def scaleout(args: argparse.Namespace, stack: Stack) -> tuple[str, bool]:
    receiver = Receiver(MEDUSA_SECRET)
    async with httpx.AsyncClient(timeout=30) as http:
        deployment = Deployment(stack, http)
        server = uvicorn.Server(
            uvicorn.Config(
                receiver,
                host="127.0.0.1",
                port=deployment.receiver_port,
                lifespan="off",
                log_level="warning",
                access_log=False,
            )
        )
        serving = asyncio.create_task(server.serve())
        try:
            return await run_scaleout(args, deployment, receiver, http)
        finally:
            server.should_exit = True
            await serving


async def run_scaleout(
    args: argparse.Namespace, deployment: Deployment, receiver: Receiver, http: httpx.AsyncClient
) -> tuple[str, bool]:
    throughput_carts = args.throughput_carts * REPLICAS
    log(f"PostgreSQL, migrations and {args.carts + throughput_carts} Medusa carts")
    demo = await deployment.start_database(args.carts + throughput_carts)
    mixed_carts, spare = demo["carts"][: args.carts], demo["carts"][args.carts :]
    await deployment.start_sandbox()
    for index in range(REPLICAS):
        deployment.start_replica(index)
    for index in range(REPLICAS):
        await deployment.replica_ready(index)
    await deployment.start_haproxy()
    await deployment.wait_up(REPLICAS)
    log(f"{REPLICAS} replicas on {deployment.replica_ports} behind HAProxy on {deployment.lb_port}")

    timeline = KillTimeline(started=time.monotonic())
    load = MixedLoad(deployment, demo["publishable_key"], mixed_carts, timeline.started + args.duration)
    await asyncio.gather(
        load.run(args.checkout_concurrency, args.status_concurrency),
        kill_and_restart(deployment, timeline, args.kill_at, args.down),
    )
    haproxy_rows = await deployment.haproxy_stats()
    log(f"mixed run done: {len(load.results)} checkouts, {len(load.outcomes)} requests; settling")
    settled = [await deployment.settle(args.settle_timeout)]
    checks, client = await invariants(deployment, receiver, load.results)
    for check in checks:
        log(f"{'PASS' if check.ok else 'FAIL'} {check.name}: {check.evidence}")

    log("throughput passes with 1, 2 and 3 replicas")
    passes = await throughput(deployment, demo, spare, load.paid, args.throughput_seconds)
    settled.append(await deployment.settle(args.settle_timeout))
    everything = [*load.results, *(CartResult(c["cart_id"], c["session_id"]) for c in spare)]
    final_checks, _ = await invariants(deployment, receiver, everything)
    # The ISO-timestamped lines (HAProxy repeats each as a [WARNING] line without a time).
    haproxy_log = sorted(
        line.strip()
        for path in deployment.stack.work.glob("haproxy*.log")
        for line in path.read_text(errors="replace").splitlines()
        if "replicas/" in line and line[:1].isdigit()
    )
    found = Findings(timeline, load, haproxy_rows, haproxy_log, settled, checks, client, final_checks, passes)
    return report(args, found), all(c.ok for c in [*checks, *final_checks])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of mixed load")
    parser.add_argument("--kill-at", type=float, default=20.0, help="seconds into the mixed load")
    parser.add_argument("--down", type=float, default=10.0, help="seconds the killed replica stays down")
    parser.add_argument("--carts", type=int, default=1500, help="carts available to the mixed run")
    parser.add_argument("--checkout-concurrency", type=int, default=12)
    parser.add_argument("--status-concurrency", type=int, default=6)
    parser.add_argument("--throughput-seconds", type=float, default=15.0)
    parser.add_argument("--throughput-carts", type=int, default=600, help="fresh carts per throughput pass")
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="hard cap on the whole run")
    parser.add_argument("--report", type=Path, help="also write the markdown report here")
    parser.add_argument("--keep-data", action="store_true", help="keep the data folder and the logs")
    args = parser.parse_args(argv)
    if not 0 < args.kill_at < args.kill_at + args.down < args.duration:
        parser.error("need 0 < --kill-at < --kill-at + --down < --duration")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    haproxy_binary()
    stack = Stack(Path(tempfile.mkdtemp(prefix="netvalve-scaleout-")), keep_data=args.keep_data)

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    try:
        text, ok = asyncio.run(asyncio.wait_for(scaleout(args, stack), args.max_seconds))
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except BaseException:
        stack.keep_data = True
        raise
    finally:
        if stack.keep_data:
            log(f"data and logs kept in {stack.work}")
        stack.close()
    sys.stdout.write(text)
    if args.report:
        args.report.write_text(text)
    log("all invariants hold" if ok else "INVARIANTS FAILED (see the report)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
