"""The load generator: a separate process that drives one scenario over loopback and reports JSON.

    python -m bench.load SPEC.json  ->  one JSON object on stdout

It speaks HTTP/1.1 keep-alive over raw asyncio streams (one connection per concurrent worker) instead of
httpx: on a 2-core machine the generator shares the CPU with the server and PostgreSQL, and a lighter
client leaves more of it to what is measured. Every request's latency is recorded (from writing the
request to reading the whole response); the run stops issuing requests at the spec's deadline.

Spec kinds: ``webhook`` (NetValve deliveries with a share of exact re-sends), ``checkout`` (per cart: HPF
session, tokenize the card at the sandbox, pay) and ``status`` (GET status reads by cart id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from devtools.netvalve_events import event_body

WEBHOOK_EVENTS = ["PURCHASED", "AUTHORISED", "CAPTURED", "REFUNDED", "PURCHASE_FAILED"]
TEST_CARD = "4012000098765439"
ERROR_SAMPLES = 10
# uvicorn closes a keep-alive connection after 5 s idle; reconnect before reusing one idle this long,
# so a request never races the server's close (and a POST is never sent twice).
IDLE_RECONNECT_SECONDS = 4.0


class HttpError(Exception):
    pass


@dataclass
class Reply:
    status: int
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.writer is not None and time.monotonic() - self.last_used > IDLE_RECONNECT_SECONDS:
            await self.close()
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        try:
            return await self._request(method, path, headers or {}, body)
        except (OSError, asyncio.IncompleteReadError, HttpError):
            await self.close()
            raise

    async def _request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        reader, writer = await self._connect()
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"content-length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(f"bad status line {status_line!r}")
        length = None
        close = False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding":
                raise HttpError("chunked responses are not supported by the bench client")
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await reader.readexactly(length) if length else b""
        self.last_used = time.monotonic()
        if close:
            await self.close()
        return Reply(int(parts[1]), payload)


@dataclass
class Recorder:
    deadline: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    completed_units: int = 0
    timed_out: bool = False

    def expired(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.timed_out = True
        return self.timed_out

    def error(self, label: str, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(f"{label}: {message}"[:300])

    async def timed(
        self,
        conn: Connection,
        label: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        ok: tuple[int, ...] = (200,),
    ) -> Reply | None:
        started = time.perf_counter()
        try:
            reply = await conn.request(method, path, headers, body)
        except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
            self.error(label, f"{type(exc).__name__}: {exc}")
            return None
        self.latencies.setdefault(label, []).append(time.perf_counter() - started)
        self.statuses[f"{label} {reply.status}"] += 1
        if reply.status not in ok:
            self.error(label, f"HTTP {reply.status} {reply.body[:200]!r}")
            return None
        return reply


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    ms = 1000.0
    return {
        "count": len(ordered),
        "p50_ms": percentile(ordered, 0.50) * ms,
        "p95_ms": percentile(ordered, 0.95) * ms,
        "p99_ms": percentile(ordered, 0.99) * ms,
        "mean_ms": (sum(ordered) / len(ordered) * ms) if ordered else float("nan"),
        "max_ms": (ordered[-1] * ms) if ordered else float("nan"),
    }


def webhook_bodies(spec: dict[str, Any]) -> list[bytes]:
    """``count`` deliveries: distinct events plus exact re-sends of earlier ones, shuffled."""
    count = int(spec["count"])
    rng = random.Random(spec.get("seed", 1))
    distinct = count - round(count * float(spec["duplicate_share"]))
    tag = spec["tag"]
    base_txn = int(spec.get("base_transaction_id", 900_000_000))
    events = [
        json.dumps(
            event_body(
                WEBHOOK_EVENTS[i % len(WEBHOOK_EVENTS)],
                transaction_id=base_txn + i,
                client_order_id=f"bench-{tag}-{i}",
                trace_id=f"bench-{tag}-{i:08d}-{rng.getrandbits(64):016x}",
                amount=round(10 + (i % 500) * 0.37, 2),
            ),
            separators=(",", ":"),
        ).encode()
        for i in range(distinct)
    ]
    deliveries = events + [events[rng.randrange(distinct)] for _ in range(count - distinct)]
    rng.shuffle(deliveries)
    return deliveries


async def run_bodies(spec: dict[str, Any], bodies: list[bytes], rec: Recorder) -> None:
    headers = {"content-type": "application/json", **spec.get("headers", {})}
    path = spec["path"]
    queue = iter(bodies)

    async def worker() -> None:
        conn = Connection(spec["host"], spec["port"])
        try:
            for body in queue:
                if rec.expired():
                    return
                if await rec.timed(conn, "request", "POST", path, headers, body) is not None:
                    rec.completed_units += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(int(spec["concurrency"]))))


async def run_status(spec: dict[str, Any], rec: Recorder) -> None:
    carts: list[str] = spec["cart_ids"]
    headers = spec.get("headers", {})
    queue = iter(range(int(spec["count"])))

    async def worker() -> None:
        conn = Connection(spec["host"], spec["port"])
        try:
            for i in queue:
                if rec.expired():
                    return
                path = f"{spec['path']}?cart_id={carts[i % len(carts)]}"
                if await rec.timed(conn, "status", "GET", path, headers) is not None:
                    rec.completed_units += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(int(spec["concurrency"]))))


async def run_checkout(spec: dict[str, Any], rec: Recorder) -> None:
    """Per cart what a storefront and the shopper's browser do: session, tokenize at NetValve, pay."""
    headers = {"content-type": "application/json", "x-publishable-api-key": spec["publishable_key"]}
    json_headers = {"content-type": "application/json"}
    queue = iter(spec["cart_ids"])

    async def one_cart(service: Connection, sandbox: Connection, cart_id: str) -> bool:
        started = time.perf_counter()
        body = json.dumps({"cart_id": cart_id}).encode()
        reply = await rec.timed(service, "hpf_session", "POST", spec["session_path"], headers, body)
        if reply is None:
            return False
        token = json.loads(reply.body)["hpf"]["payment_token"]
        card = {
            "paymentToken": token,
            "cardNumber": TEST_CARD,
            "expiryMonth": "12",
            "expiryYear": "2030",
            "cvv": "999",
        }
        tokenized = await rec.timed(
            sandbox, "sandbox_tokenize", "POST", "/_sandbox/tokenize", json_headers, json.dumps(card).encode()
        )
        if tokenized is None:
            return False
        pay = json.dumps({"cart_id": cart_id, "payment_token": token}).encode()
        paid = await rec.timed(service, "pay", "POST", spec["pay_path"], headers, pay)
        if paid is None:
            return False
        if json.loads(paid.body).get("status") != "captured":
            rec.error("pay", f"status {json.loads(paid.body).get('status')!r} for {cart_id}")
            return False
        rec.latencies.setdefault("cart", []).append(time.perf_counter() - started)
        return True

    async def worker() -> None:
        service = Connection(spec["host"], spec["port"])
        sandbox = Connection(spec["host"], spec["sandbox_port"])
        try:
            for cart_id in queue:
                if rec.expired():
                    return
                if await one_cart(service, sandbox, cart_id):
                    rec.completed_units += 1
        finally:
            await service.close()
            await sandbox.close()

    await asyncio.gather(*(worker() for _ in range(int(spec["concurrency"]))))


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["kind"]
    bodies = webhook_bodies(spec) if kind == "webhook" else []
    rec = Recorder(deadline=time.monotonic() + float(spec["max_seconds"]))
    started = time.perf_counter()
    cpu_started = time.process_time()
    if kind == "webhook":
        await run_bodies(spec, bodies, rec)
    elif kind == "checkout":
        await run_checkout(spec, rec)
    elif kind == "status":
        await run_status(spec, rec)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    requests = sum(len(v) for k, v in rec.latencies.items() if k != "cart")
    service_requests = sum(len(v) for k, v in rec.latencies.items() if k not in ("cart", "sandbox_tokenize"))
    return {
        "kind": kind,
        "concurrency": spec["concurrency"],
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "units": rec.completed_units,
        "requests": requests,
        "service_requests": service_requests,
        "requests_per_s": service_requests / elapsed if elapsed else 0.0,
        "errors": rec.errors,
        "error_samples": rec.error_samples,
        "statuses": dict(rec.statuses),
        "timed_out": rec.timed_out,
        "latency": {label: summarize(values) for label, values in rec.latencies.items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    result = uvloop.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
