"""Load benchmark: the service against a minimal durable-INSERT baseline, in one run on one machine.

    .venv/bin/python -m bench.run [--workers 2] [--scenarios webhook,checkout,status] [--scale 1]
                                  [--repeat 2] [--out bench] [--profile]

Starts a durable PostgreSQL cluster (devtools/pgcluster.py), migrates it, loads Medusa carts, starts the
NetValve sandbox, the service and the baseline app as separate uvicorn processes, drives each scenario
from a separate load process (bench/load.py) as A (service) then B (baseline), ``--repeat`` times, checks
the rows afterwards and writes ``results.json`` and ``results.md`` into ``--out``. Everything it started is
stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from bench.baseline_app import SCHEMA as BASELINE_SCHEMA
from devtools.medusa_rows import create_cart, create_publishable_key
from devtools.pgcluster import Cluster, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SERVICE_KEY = "bench-service-key-0123456789abcdef"
WEBHOOK_HEADER = "x-netvalve-webhook"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789abcdef"  # noqa: S105  (a throwaway local stack)
EUR_MID = "3f0c9a57-6d0e-4b43-9a53-0b1f1c2b7e01"
USD_MID = "8b1d2f43-2a6c-4f1e-b7a2-5c9e0d3f4a12"
API = "/api/v1/netvalve"
UNREACHED_RATE_LIMITS = {
    "STOREFRONT_RATE_LIMIT_PER_ADDRESS": "100000000",
    "STOREFRONT_RATE_LIMIT_PER_KEY": "100000000",
    "STOREFRONT_PAYMENT_RATE_LIMIT_PER_ADDRESS": "100000000",
    "STOREFRONT_KEY_LOOKUPS_PER_ADDRESS": "100000000",
    "STOREFRONT_DECLINE_CEILING": "100000000",
}
SCENARIOS = ("webhook", "checkout", "status")
STATUS_READS = 5_000
# The profiling round runs this share of each scenario's requests.
PROFILE_SHARE = 0.25
# Carts paid one at a time after each checkout run: the service's own overhead over the sandbox's
# latency, without the queueing that 32 concurrent carts on 2 shared cores add.
SERIAL_CARTS = 40


def log(message: str) -> None:
    sys.stdout.write(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}\n")
    sys.stdout.flush()


@dataclass
class Stack:
    """Everything the run started, so that one ``close`` stops it all."""

    work: Path
    cluster: Cluster | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    keep_data: bool = False

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = (self.work / f"{name}.log").open("wb")
        # A session of its own, so the whole uvicorn process group can be stopped at once.
        process = subprocess.Popen(  # noqa: S603  (our own interpreter, fixed arguments)
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        self.processes[name] = process
        return process

    def close(self) -> None:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self.cluster is not None:
            self.cluster.stop("fast")
        if not self.keep_data:
            shutil.rmtree(self.work, ignore_errors=True)


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (loopback URL)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200")


def http_json(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310  (loopback URL)
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  (loopback URL)
        return json.loads(response.read())


# --- machine and processes ---------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def uvicorn_workers(pid: int) -> list[int]:
    """The processes that serve requests: the children of uvicorn's supervisor, or the process itself.

    Children that are not Python (e.g. a multiprocessing resource tracker) are skipped."""
    workers = []
    for child in children(pid):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"multiprocessing.resource_tracker" not in cmdline:
                workers.append(child)
    return workers or [pid]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) of ``root`` and all its descendants, including reaped children."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(int(stat.parent.name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    ticks = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # utime, stime, cutime, cstime (fields 14-17 of /proc/<pid>/stat).
        ticks += sum(int(x) for x in fields[11:15])
        todo.extend(parents.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


# --- database ----------------------------------------------------------------------------------


def migrate(dsn: str) -> None:
    subprocess.run(  # noqa: S603  (our own interpreter, fixed arguments)
        [PYTHON, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": dsn},
        check=True,
        capture_output=True,
    )


async def create_schemas(cluster: Cluster) -> None:
    """Both databases on the one cluster; Medusa's fixture schema first, as in production."""
    admin = await asyncpg.connect(cluster.admin_dsn)
    try:
        for name in ("netvalve", "bench_baseline"):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = cluster.dsn("netvalve")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute((ROOT / "tests" / "fixtures" / "medusa_schema.sql").read_text())
    finally:
        await conn.close()
    baseline = await asyncpg.connect(cluster.dsn("bench_baseline"))
    try:
        await baseline.execute(BASELINE_SCHEMA)
    finally:
        await baseline.close()


async def create_carts(dsn: str, carts: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            key = await create_publishable_key(conn, title="Bench")
            rows = [
                await create_cart(conn, currency="eur", amount=Decimal("19.99") + Decimal(i % 100) / 100)
                for i in range(carts)
            ]
    finally:
        await conn.close()
    return {
        "publishable_key": key,
        "carts": [{"cart_id": r.cart_id, "session_id": r.payment_session_id} for r in rows],
    }


async def fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def execute(dsn: str, query: str, *args: Any) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    stack: Stack
    dsn: str = ""
    baseline_dsn: str = ""
    service_port: int = 0
    sandbox_port: int = 0
    baseline_port: int = 0
    demo: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    profiled_runs: list[dict[str, Any]] = field(default_factory=list)
    # The profiling round runs after the measured ones: py-spy costs CPU, so it measures nothing.
    profiling: bool = False

    def count(self, base: int) -> int:
        share = PROFILE_SHARE if self.profiling else 1.0
        return max(1, round(base * self.args.scale * share))

    def transactions(self) -> int:
        """Transactions the service's database has finished (commits and rollbacks), all sessions."""
        rows = asyncio.run(
            fetch(
                self.dsn,
                "SELECT pg_stat_clear_snapshot(), xact_commit + xact_rollback AS n"
                " FROM pg_stat_database WHERE datname = current_database()",
            )
        )
        return int(rows[0]["n"])

    def park(self, tag: str) -> None:
        """Take the scenario's webhooks off the worker's queue once counted.

        They name NetValve transactions that do not exist, so the worker would retry them with backoff
        for days and load every later scenario; parking them keeps the scenarios independent."""
        asyncio.run(
            execute(
                self.dsn,
                "UPDATE webhook_events SET status = 'attention', last_error = 'bench: parked'"
                " WHERE client_order_id LIKE $1 AND status IN ('received', 'pending')",
                f"bench-{tag}-%",
            )
        )

    def quiesce(self, timeout: float = 120.0) -> None:
        """Wait until the sandbox has delivered its webhooks and the service's worker has nothing due,
        so that a measurement does not also carry the previous scenario's background work."""
        deadline = time.monotonic() + timeout
        http_json("POST", f"http://127.0.0.1:{self.sandbox_port}/_sandbox/webhooks/drain?timeout={timeout:g}")
        while time.monotonic() < deadline:
            due = asyncio.run(
                fetch(
                    self.dsn,
                    "SELECT count(*) AS n FROM webhook_events"
                    " WHERE status IN ('received', 'pending') AND next_attempt_at <= now()",
                )
            )[0]["n"]
            if not due:
                return
            time.sleep(1)
        log(f"background work still due after {timeout:g} s; measuring anyway")

    def load(self, spec: dict[str, Any], profile_as: str | None = None) -> dict[str, Any]:
        service = spec.get("port") == self.service_port
        if service:
            self.quiesce()
        before = self.transactions() if service else 0
        spec = {"host": "127.0.0.1", "max_seconds": self.args.max_seconds, **spec}
        spec_path = self.stack.work / "spec.json"
        spec_path.write_text(json.dumps(spec))
        profilers = self.start_profilers(profile_as) if profile_as else []
        cpu_before = self.cpu_seconds()
        try:
            done = subprocess.run(  # noqa: S603  (our own interpreter, fixed arguments)
                [PYTHON, "-m", "bench.load", str(spec_path)],
                cwd=ROOT,
                capture_output=True,
                check=True,
                timeout=self.args.max_seconds + 120,
            )
        finally:
            self.stop_profilers(profilers)
        result: dict[str, Any] = json.loads(done.stdout)
        cpu_after = self.cpu_seconds()
        used = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
        # The generator's own CPU while it drove load, not its start-up or building the bodies.
        used["load generator"] = result["cpu_s"]
        per_request = 1000 / max(result["service_requests"], 1)
        result["cpu_ms_per_request"] = {name: round(value * per_request, 3) for name, value in used.items()}
        result["cpu_cores_busy"] = round(sum(used.values()) / max(result["elapsed_s"], 1e-9), 2)
        if service:
            # Includes the background workers' and the stats query's own transactions: an upper bound.
            finished = self.transactions() - before
            result["db_transactions"] = finished
            result["db_transactions_per_request"] = finished / max(result["service_requests"], 1)
        return result

    def cpu_seconds(self) -> dict[str, float]:
        """CPU used so far by each server process tree (PostgreSQL: the postmaster and its backends)."""
        assert self.stack.cluster is not None
        postmaster = int((self.stack.cluster.data_dir / "postmaster.pid").read_text().split()[0])
        return {
            "service": process_tree_cpu_seconds(self.stack.processes["service"].pid),
            "baseline": process_tree_cpu_seconds(self.stack.processes["baseline"].pid),
            "postgresql": process_tree_cpu_seconds(postmaster),
            "sandbox": process_tree_cpu_seconds(self.stack.processes["sandbox"].pid),
        }

    # py-spy samples the service's workers while one scenario runs.
    def start_profilers(self, name: str) -> list[tuple[subprocess.Popen[bytes], Path]]:
        py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        started = []
        targets = [("service", pid) for pid in uvicorn_workers(self.stack.processes["service"].pid)]
        targets.append(("sandbox", self.stack.processes["sandbox"].pid))
        for process_name, pid in targets:
            out = self.stack.work / f"profile-{name}-{process_name}-{pid}.txt"
            process = subprocess.Popen(  # noqa: S603  (fixed arguments)
                [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            started.append((process, out))
        return started

    def stop_profilers(self, profilers: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
        for process, out in profilers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if out.exists():
                self.profiles.append({"scenario": out.stem, "stacks": out.read_text()})

    def record(
        self, scenario: str, target: str, rep: int, result: dict[str, Any], rows: dict[str, Any]
    ) -> None:
        result = {"scenario": scenario, "target": target, "rep": rep, **result, "rows": rows}
        (self.profiled_runs if self.profiling else self.runs).append(result)
        shown = target + (" (profiled)" if self.profiling else "")
        main = result["latency"].get("request") or result["latency"].get("status") or {}
        if "pay" in result["latency"]:
            main = result["latency"]["pay"]
        log(
            f"{scenario:<8} {shown:<15} rep {rep}: {result['requests_per_s']:8.1f} req/s"
            f"  p50 {main.get('p50_ms', math.nan):7.1f} ms  p99 {main.get('p99_ms', math.nan):7.1f} ms"
            f"  errors {result['errors']}  rows {rows}"
            + (
                f"  db xacts/req {result['db_transactions_per_request']:.1f}"
                if "db_transactions_per_request" in result
                else ""
            )
        )

    def knobs(self, latency_ms: float) -> None:
        http_json("PUT", f"http://127.0.0.1:{self.sandbox_port}/_sandbox/knobs", {"latency_ms": latency_ms})

    # --- scenarios ---

    def webhook_spec(self, tag: str, count: int) -> dict[str, Any]:
        return {
            "kind": "webhook",
            "count": count,
            "duplicate_share": 0.10,
            "tag": tag,
            "seed": sum(tag.encode()),
            "concurrency": 64,
        }

    def baseline(self, spec: dict[str, Any], variant: str) -> tuple[dict[str, Any], dict[str, Any]]:
        table = f"baseline_{variant}"
        asyncio.run(execute(self.baseline_dsn, f"TRUNCATE {table}"))
        result = self.load({**spec, "port": self.baseline_port, "path": f"/{variant}"})
        found = asyncio.run(fetch(self.baseline_dsn, f"SELECT count(*) AS n FROM {table}"))  # noqa: S608
        return result, {"rows": found[0]["n"]}

    def webhook(self, rep: int, warmup: bool = False) -> None:
        count = 256 if warmup else self.count(20_000)
        tag = f"warm{rep}" if warmup else f"r{rep}"
        spec = self.webhook_spec(tag, count)
        distinct = count - round(count * 0.10)
        result = self.load(
            {
                **spec,
                "port": self.service_port,
                "path": f"{API}/webhook",
                "headers": {WEBHOOK_HEADER: WEBHOOK_SECRET},
            },
            profile_as="webhook" if self.profiling else None,
        )
        found = asyncio.run(
            fetch(
                self.dsn,
                "SELECT count(*) AS n, count(DISTINCT dedup_key) AS keys FROM webhook_events"
                " WHERE client_order_id LIKE $1",
                f"bench-{tag}-%",
            )
        )
        rows = {"expected": distinct, "rows": found[0]["n"], "distinct_keys": found[0]["keys"]}
        rows["ok"] = rows["rows"] == distinct == rows["distinct_keys"]
        self.park(tag)
        if self.profiling:
            self.record("webhook", "service", rep, result, rows)
            return
        plain, plain_rows = self.baseline(spec, "plain")
        plain_rows |= {"expected": count, "ok": plain_rows["rows"] == count}
        dedup, dedup_rows = self.baseline(spec, "dedup")
        dedup_rows |= {"expected": distinct, "ok": dedup_rows["rows"] == distinct}
        if warmup:
            return
        self.record("webhook", "service", rep, result, rows)
        self.record("webhook", "baseline_plain", rep, plain, plain_rows)
        self.record("webhook", "baseline_dedup", rep, dedup, dedup_rows)

    def checkout_spec(self, carts: list[dict[str, str]], concurrency: int) -> dict[str, Any]:
        return {
            "kind": "checkout",
            "concurrency": concurrency,
            "port": self.service_port,
            "sandbox_port": self.sandbox_port,
            "publishable_key": self.demo["publishable_key"],
            "cart_ids": [c["cart_id"] for c in carts],
            "session_path": f"{API}/hpf/session",
            "pay_path": f"{API}/payment",
        }

    def checkout(
        self, rep: int, carts: list[dict[str, str]], serial: list[dict[str, str]] | None = None
    ) -> None:
        self.knobs(self.args.sandbox_latency_ms)
        try:
            result = self.load(
                self.checkout_spec(carts, 32), profile_as="checkout" if self.profiling else None
            )
            serial_result = self.load(self.checkout_spec(serial, 1)) if serial else None
        finally:
            self.knobs(0)
        rows = self.checkout_rows(carts)
        if self.profiling:
            self.record("checkout", "service", rep, result, rows)
            return
        if serial and serial_result is not None:
            self.record("checkout", "service_serial", rep, serial_result, self.checkout_rows(serial))
        base_spec = self.webhook_spec(f"c{rep}", result["service_requests"] or 2 * len(carts))
        base_spec["concurrency"] = 32
        plain, plain_rows = self.baseline(base_spec, "plain")
        plain_rows |= {"expected": base_spec["count"], "ok": plain_rows["rows"] == base_spec["count"]}
        self.record("checkout", "service", rep, result, rows)
        self.record("checkout", "baseline_plain", rep, plain, plain_rows)

    def checkout_rows(self, carts: list[dict[str, str]]) -> dict[str, Any]:
        cart_ids = [c["cart_id"] for c in carts]
        ours = asyncio.run(
            fetch(
                self.dsn,
                """
                SELECT p.cart_id, p.status,
                       count(t.id) FILTER (WHERE t.operation = 'sale' AND t.outcome = 'approved') AS sales
                FROM payments p LEFT JOIN payment_transactions t ON t.payment_id = p.id
                WHERE p.cart_id = ANY($1::text[])
                GROUP BY p.id, p.cart_id, p.status
                """,
                cart_ids,
            )
        )
        per_cart = Counter(r["cart_id"] for r in ours)
        ledger = http_json("GET", f"http://127.0.0.1:{self.sandbox_port}/_sandbox/transactions")
        session_of = {c["session_id"]: c["cart_id"] for c in carts}
        sandbox_sales: Counter[str] = Counter()
        for txn in ledger:
            reference = str(txn.get("clientOrderId") or "").rsplit("-", 1)[0]
            if (
                txn.get("type") == "SALE"
                and reference in session_of
                and txn.get("responseCode") == "GTW_1000"
            ):
                sandbox_sales[session_of[reference]] += 1
        rows = {
            "carts": len(carts),
            "payments": len(ours),
            "carts_with_one_payment": sum(1 for c in cart_ids if per_cart[c] == 1),
            "captured": sum(1 for r in ours if r["status"] == "captured"),
            "one_sale_in_ledger": sum(1 for r in ours if r["sales"] == 1),
            "one_sale_in_sandbox": sum(1 for c in cart_ids if sandbox_sales[c] == 1),
        }
        rows["ok"] = all(
            rows[k] == len(carts)
            for k in (
                "payments",
                "carts_with_one_payment",
                "captured",
                "one_sale_in_ledger",
                "one_sale_in_sandbox",
            )
        )
        return rows

    def status(self, rep: int, carts: list[dict[str, str]]) -> None:
        count = self.count(STATUS_READS)
        self.knobs(self.args.status_latency_ms)
        before = asyncio.run(fetch(self.dsn, "SELECT count(*) AS n FROM payment_transactions"))[0]["n"]
        try:
            result = self.load(
                {
                    "kind": "status",
                    "count": count,
                    "concurrency": 64,
                    "port": self.service_port,
                    "path": f"{API}/status",
                    "cart_ids": [c["cart_id"] for c in carts],
                    "headers": {"authorization": f"Bearer {SERVICE_KEY}"},
                },
                profile_as="status" if self.profiling else None,
            )
        finally:
            self.knobs(0)
        after = asyncio.run(fetch(self.dsn, "SELECT count(*) AS n FROM payment_transactions"))[0]["n"]
        rows = {"payment_transactions_before": before, "after": after, "ok": before == after}
        if self.profiling:
            self.record("status", "service", rep, result, rows)
            return
        base_spec = self.webhook_spec(f"s{rep}", count)
        plain, plain_rows = self.baseline(base_spec, "plain")
        plain_rows |= {"expected": count, "ok": plain_rows["rows"] == count}
        self.record("status", "service", rep, result, rows)
        self.record("status", "baseline_plain", rep, plain, plain_rows)

    # --- stack ---

    def start(self) -> None:
        args = self.args
        scenarios = args.scenarios
        carts_per_rep = self.count(2_000)
        profile_carts = max(1, round(carts_per_rep * PROFILE_SHARE)) if args.profile else 0
        serial = max(5, round(SERIAL_CARTS * args.scale)) * args.repeat
        needed = carts_per_rep * args.repeat + profile_carts + serial if "checkout" in scenarios else 0
        if "status" in scenarios and not needed:
            needed = min(carts_per_rep, 200)
        os.chmod(self.stack.work, 0o755)  # noqa: S103  (the postgres user must traverse it)
        cluster = Cluster(self.stack.work / "pg", free_port())
        self.stack.cluster = cluster
        log(f"PostgreSQL (durable: fsync and synchronous_commit on) in {cluster.data_dir}")
        cluster.start(durable=True, max_connections=400)
        log(f"migrations and {needed} Medusa carts")
        self.dsn = cluster.dsn("netvalve")
        asyncio.run(create_schemas(cluster))
        migrate(self.dsn)
        self.demo = asyncio.run(create_carts(self.dsn, needed))
        self.baseline_dsn = cluster.dsn("bench_baseline")
        self.service_port, self.sandbox_port, self.baseline_port = free_port(), free_port(), free_port()
        service_url = f"http://127.0.0.1:{self.service_port}"
        sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        env = {
            **os.environ,
            # Not production: it refuses the sandbox's plain-http URLs. The request path is the same.
            "APP_ENV": "development",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "DATABASE_URL": self.dsn,
            "NETVALVE_ENVIRONMENT": "sandbox",
            "NETVALVE_API_KEY": "sandbox-api-key-0123456789abcdef",
            "NETVALVE_CLIENT_ID": "sandbox-client",
            "NETVALVE_PAYMENT_API_URL": sandbox_url,
            "NETVALVE_HPP_BASE_URL": sandbox_url,
            "NETVALVE_BACKOFFICE_API_URL": sandbox_url,
            "NETVALVE_MID_ID_EUR": EUR_MID,
            "NETVALVE_MID_ID_USD": USD_MID,
            "NETVALVE_RETURN_BASE_URL": service_url,
            "SERVICE_API_KEYS": SERVICE_KEY,
            "NETVALVE_WEBHOOK_AUTH_HEADER": WEBHOOK_HEADER,
            "NETVALVE_WEBHOOK_AUTH_VALUES": WEBHOOK_SECRET,
            "WEBHOOK_WORKER_ENABLED": "false" if args.no_webhook_worker else "true",
            "SANDBOX_API_KEY": "sandbox-api-key-0123456789abcdef",
            "SANDBOX_PUBLIC_URL": sandbox_url,
            "SANDBOX_WEBHOOK_URL": f"{service_url}{API}/webhook",
            "SANDBOX_WEBHOOK_HEADER_NAME": WEBHOOK_HEADER,
            "SANDBOX_WEBHOOK_HEADER_VALUE": WEBHOOK_SECRET,
            "BENCH_BASELINE_DSN": self.baseline_dsn,
            # All load comes from one address with one key: the limits stay on (their cost is measured)
            # but above anything the bench sends.
            **UNREACHED_RATE_LIMITS,
        }
        uvicorn = [PYTHON, "-m", "uvicorn", "--host", "127.0.0.1", "--no-server-header"]
        # The sandbox keeps its state in memory: exactly one process, whatever --workers says.
        self.stack.spawn(
            "sandbox",
            [*uvicorn, "netvalve_sandbox.main:app", "--port", str(self.sandbox_port), "--no-access-log"],
            env,
        )
        workers = ["--workers", str(args.workers)]
        self.stack.spawn(
            "service", [*uvicorn, "app.main:app", "--port", str(self.service_port), *workers], env
        )
        self.stack.spawn(
            "baseline", [*uvicorn, "bench.baseline_app:app", "--port", str(self.baseline_port), *workers], env
        )
        for port in (self.sandbox_port, self.service_port, self.baseline_port):
            wait_for_port(port, timeout=60)
        wait_http(f"{sandbox_url}/_sandbox/health")
        wait_http(f"{service_url}/ready")
        wait_http(f"http://127.0.0.1:{self.baseline_port}/health")
        # Let every worker finish its lifespan (pools, background tasks) before measuring.
        time.sleep(2)
        log(
            f"service {service_url} (workers {args.workers}), sandbox {sandbox_url},"
            f" baseline :{self.baseline_port}"
        )

    def run(self) -> dict[str, Any]:
        args = self.args
        started = time.perf_counter()
        load_start = load_average()
        self.start()
        log("warm-up")
        self.webhook(0, warmup=True)
        carts = self.demo["carts"]
        per_rep = self.count(2_000)
        profile_carts = max(1, round(per_rep * PROFILE_SHARE))
        serial_per_rep = max(5, round(SERIAL_CARTS * args.scale))
        serial_carts = carts[len(carts) - serial_per_rep * args.repeat :]
        if "status" in args.scenarios and "checkout" not in args.scenarios:
            log("paying carts for the status reads")
            self.checkout(-1, carts)
            self.runs = [r for r in self.runs if r["rep"] != -1]
        rounds = args.repeat + (1 if args.profile else 0)
        for rep in range(rounds):
            self.profiling = rep == args.repeat
            log("profiling round (not measured)" if self.profiling else f"round {rep + 1} of {args.repeat}")
            if "webhook" in args.scenarios:
                self.webhook(rep)
            if "checkout" in args.scenarios:
                first = rep * per_rep
                if self.profiling:
                    self.checkout(rep, carts[first : first + profile_carts])
                else:
                    serial = serial_carts[rep * serial_per_rep : (rep + 1) * serial_per_rep]
                    self.checkout(rep, carts[first : first + per_rep], serial)
            if "status" in args.scenarios:
                paid = (
                    carts[: min(len(carts), per_rep * (rep + 1))] if "checkout" in args.scenarios else carts
                )
                self.status(rep, paid)
        memory = {
            name: {str(pid): peak_rss_mb(pid) for pid in uvicorn_workers(self.stack.processes[name].pid)}
            for name in ("service", "baseline", "sandbox")
        }
        return {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(PYTHON).name, "-m", "bench.run", *sys.argv[1:]]),
            "machine": machine(),
            "load_average_start": load_start,
            "load_average_end": load_average(),
            "settings": {
                "workers": args.workers,
                "scenarios": list(args.scenarios),
                "scale": args.scale,
                "repeat": args.repeat,
                "sandbox_latency_ms": args.sandbox_latency_ms,
                "status_latency_ms": args.status_latency_ms,
                "webhook_worker": not args.no_webhook_worker,
                "max_seconds_per_load": args.max_seconds,
                "postgresql": "durable (fsync, synchronous_commit, full_page_writes on),"
                " one cluster for both",
                "uvicorn": (
                    "httptools + uvloop, --no-server-header, same --workers for both; one access line per"
                    " request each (uvicorn's own for the baseline, the service's JSON line, which replaces"
                    " uvicorn's)"
                ),
            },
            "peak_rss_mb": memory,
            "runs": self.runs,
            "profiled_runs": self.profiled_runs,
            "wall_time_s": round(time.perf_counter() - started, 1),
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers for the service and baseline")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of " + ", ".join(SCENARIOS)
    )
    parser.add_argument(
        "--scale", "--requests", type=float, default=1.0, help="multiplies every request count"
    )
    parser.add_argument("--repeat", type=int, default=2, help="A/B rounds (A B A B ...)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench", help="where results.json and results.md go"
    )
    parser.add_argument("--sandbox-latency-ms", type=float, default=50.0)
    parser.add_argument("--status-latency-ms", type=float, default=0.0)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="hard cap per load run")
    parser.add_argument("--no-webhook-worker", action="store_true", help="store webhooks without processing")
    parser.add_argument("--profile", action="store_true", help="an extra, unmeasured round under py-spy")
    parser.add_argument("--keep-data", action="store_true", help="keep the data folder and logs")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown or not args.scenarios:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    from bench.report import write_reports

    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="netvalve-bench-"))
    stack = Stack(work, keep_data=args.keep_data)
    bench = Bench(args, stack)

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    # Also when started in the background, where the shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, terminate)
    try:
        results = bench.run()
        json_path, md_path = write_reports(results, bench.profiles, args.out)
        log(f"wrote {json_path} and {md_path} (wall time {results['wall_time_s']} s)")
        return 0
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except subprocess.CalledProcessError as exc:
        log(f"{exc.cmd[-1]} failed: {exc.stderr.decode(errors='replace')[-2000:] if exc.stderr else exc}")
        stack.keep_data = True
        return 1
    except BaseException:
        stack.keep_data = True
        raise
    finally:
        if stack.keep_data:
            log(f"data and logs kept in {work}")
        stack.close()


if __name__ == "__main__":
    raise SystemExit(main())
