"""The README's run command: the stack starts, loads the demo Medusa data, prints a walk-through that works
when pasted into bash as printed, and Ctrl-C (or ``--stop``) stops everything it started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devtools.local_stack import MIDS, SERVICE_KEY, STATE_FILE
from devtools.medusa_rows import NETVALVE_PROVIDER_ID
from devtools.pgcluster import Cluster, free_port
from tests.conftest import ROOT

START_TIMEOUT = 180.0
STOP_TIMEOUT = 90.0
LAST_LINE = "stops the service, the sandbox and PostgreSQL."


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    data: Path
    ports: dict[str, int]

    @property
    def stdout(self) -> str:
        return (self.data / "stdout.txt").read_text()

    @property
    def stderr_tail(self) -> str:
        return (self.data / "stderr.txt").read_text()[-3000:]

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "devtools.local_stack", "--data", str(self.data), *extra]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for whoever adopted it to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _start(*extra: str) -> Stack:
    data = Path(tempfile.mkdtemp(prefix="netvalve-stack-"))
    data.chmod(0o755)  # the postgres user keeps its cluster inside
    ports = {name: free_port() for name in ("postgres", "service", "sandbox", "storefront")}
    args = [
        "--pg-port",
        str(ports["postgres"]),
        "--port",
        str(ports["service"]),
        "--sandbox-port",
        str(ports["sandbox"]),
        "--storefront-port",
        str(ports["storefront"]),
        *extra,
    ]
    with (data / "stdout.txt").open("wb") as out, (data / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_stack", "--data", str(data), *args],
            cwd=ROOT,
            stdout=out,
            stderr=err,
            # Its own process group, like a command in a terminal: Ctrl-C signals the whole group.
            start_new_session=True,
        )
    return Stack(process, data, ports)


def _wait_for_walkthrough(stack: Stack) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = stack.stdout
        if LAST_LINE in text:
            return text
        assert stack.process.poll() is None, f"the stack exited early:\n{stack.stderr_tail}"
        time.sleep(0.5)
    raise AssertionError(f"no walk-through within {START_TIMEOUT}s:\n{stack.stderr_tail}")


def _cleanup(stack: Stack) -> None:
    """Whatever the test did, leave nothing running."""
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        try:
            stack.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait(timeout=10)
    # The service and the sandbox stay in the stack's process group even if it died without stopping them.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(stack.process.pid, signal.SIGKILL)
    Cluster(stack.data / "pg", stack.ports["postgres"]).stop(mode="immediate")
    shutil.rmtree(stack.data, ignore_errors=True)


@pytest.fixture
def running_stack() -> Iterator[tuple[Stack, str, dict[str, Any]]]:
    """A stack started as the README says, ready: its printed walk-through and its state file."""
    stack = _start()
    try:
        text = _wait_for_walkthrough(stack)
        yield stack, text, json.loads((stack.data / STATE_FILE).read_text())
    finally:
        _cleanup(stack)


def _assert_all_stopped(stack: Stack, state: dict[str, Any]) -> None:
    pids = {
        "stack": stack.process.pid,
        "service": int(state["service"]["pid"]),
        "sandbox": int(state["sandbox"]["pid"]),
        "storefront": int(state["storefront"]["pid"]),
        "postgres": int(state["postgres"]["pid"]),
    }
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(pid) for pid in pids.values()):
        time.sleep(0.2)
    assert {name: _gone(pid) for name, pid in pids.items()} == dict.fromkeys(pids, True)
    assert {name: _port_open(port) for name, port in stack.ports.items()} == dict.fromkeys(stack.ports, False)
    assert not (stack.data / STATE_FILE).exists()


def _json_documents(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    documents, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return documents
        document, position = decoder.raw_decode(text, position)
        documents.append(document)


async def _demo_rows(dsn: str, demo: dict[str, Any]) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        carts = {}
        for currency, ids in demo["carts"].items():
            carts[currency] = await conn.fetchrow(
                """
                SELECT r.currency_code AS region_currency, c.currency_code, pc.id AS collection_id,
                       ps.id AS session_id, ps.provider_id, ps.status AS session_status,
                       pc.raw_amount->>'value' AS amount
                FROM cart c
                JOIN region r ON r.id = c.region_id
                JOIN cart_payment_collection cpc ON cpc.cart_id = c.id AND cpc.deleted_at IS NULL
                JOIN payment_collection pc ON pc.id = cpc.payment_collection_id
                JOIN payment_session ps ON ps.payment_collection_id = pc.id
                WHERE c.id = $1
                """,
                ids["cart_id"],
            )
        key = await conn.fetchrow(
            "SELECT type, revoked_at, deleted_at FROM api_key WHERE token = $1", demo["publishable_key"]
        )
    finally:
        await conn.close()
    return {"carts": carts, "key": key}


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (local URL)
        return json.load(response)


def test_walkthrough_runs_as_printed_and_ctrl_c_stops_everything(
    running_stack: tuple[Stack, str, dict[str, Any]],
) -> None:
    stack, text, state = running_stack
    demo = state["demo"]
    eur = demo["carts"]["eur"]

    # Demo Medusa data: a region and a cart per configured currency, each cart with a payment collection and
    # a pending netvalve payment session, and a live publishable key.
    rows = asyncio.run(_demo_rows(state["postgres"]["dsn"], demo))
    assert set(rows["carts"]) == set(MIDS)
    for currency, row in rows["carts"].items():
        assert row is not None, currency
        assert (row["region_currency"], row["currency_code"]) == (currency, currency)
        assert (row["collection_id"], row["session_id"]) == (
            demo["carts"][currency]["payment_collection_id"],
            demo["carts"][currency]["payment_session_id"],
        )
        assert (row["provider_id"], row["session_status"]) == (NETVALVE_PROVIDER_ID, "pending")
        assert Decimal(row["amount"]) == Decimal(demo["carts"][currency]["amount"])
    assert rows["key"] is not None
    assert dict(rows["key"]) == {"type": "publishable", "revoked_at": None, "deleted_at": None}

    # The printed text is the script: the same ports, keys and ids the stack runs with.
    for needle in (
        f"SERVICE={state['service']['url']}",
        f"SANDBOX={state['sandbox']['url']}",
        f"PK={demo['publishable_key']}",
        f"SERVICE_KEY={SERVICE_KEY}",
        f"CART={eur['cart_id']}",
        f"{state['storefront']['url']}/?cart_id={eur['cart_id']}",
        "they need curl and jq",
        f"EUR {eur['cart_id']} ({eur['amount']})",
        f"USD {demo['carts']['usd']['cart_id']} ({demo['carts']['usd']['amount']})",
    ):
        assert needle in text
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    hpf, tokenized, payment, status, refund, ledger_summary = _json_documents(result.stdout)

    assert (hpf["cart_id"], hpf["flow"], hpf["currency_code"]) == (eur["cart_id"], "hpf", "EUR")
    assert Decimal(hpf["amount"]) == Decimal(eur["amount"])
    token = hpf["hpf"]["payment_token"]
    assert token

    assert tokenized["success"] is True
    assert (tokenized["paymentToken"], tokenized["cardNumber"]) == (token, "401200******5439")

    assert payment["status"] == "captured"
    assert (payment["cart_id"], payment["payment_session_id"]) == (eur["cart_id"], eur["payment_session_id"])
    assert (Decimal(payment["amount"]), payment["currency_code"]) == (Decimal(eur["amount"]), "EUR")
    assert set(payment) == {
        "cart_id",
        "payment_collection_id",
        "payment_session_id",
        "status",
        "currency_code",
        "amount",
    }
    sale_id = status["netvalve_transaction_id"]
    assert isinstance(sale_id, int)

    assert status["status"] == "captured"
    assert Decimal(status["captured_amount"]) == Decimal(eur["amount"])
    assert Decimal(status["refunded_amount"]) == 0

    assert refund["netvalve_transaction_id"] == sale_id
    assert Decimal(refund["refunded_amount"]) == Decimal("10.00")
    assert Decimal(refund["captured_amount"]) == Decimal(eur["amount"])
    assert refund["response_code"] == "GTW_1000"
    refund_id = refund["operation_transaction_id"]
    assert isinstance(refund_id, int)

    # The sandbox ledger, asked directly: exactly one sale and one refund of it.
    ledger = _get_json(f"{state['sandbox']['url']}/_sandbox/transactions")
    assert [
        (t["transactionID"], t["type"], t["parentID"], Decimal(t["amount"]), t["currency"]) for t in ledger
    ] == [
        (sale_id, "SALE", None, Decimal(eur["amount"]), "EUR"),
        (refund_id, "REFUND", sale_id, Decimal("10.00"), "EUR"),
    ]
    assert [(t["transactionID"], t["type"]) for t in ledger_summary] == [
        (sale_id, "SALE"),
        (refund_id, "REFUND"),
    ]

    # The demo storefront serves the checkout page and hands it the service's URL and the publishable key.
    assert _get_json(f"{state['storefront']['url']}/config.json") == {
        "serviceUrl": state["service"]["url"],
        "publishableKey": demo["publishable_key"],
    }

    # Ctrl-C (SIGINT to the terminal's foreground process group): the stack stops the service, the sandbox
    # and PostgreSQL (which pg_ctl detached from the group), then exits cleanly.
    os.killpg(stack.process.pid, signal.SIGINT)
    assert stack.process.wait(timeout=STOP_TIMEOUT) == 0
    _assert_all_stopped(stack, state)


def test_stop_command_stops_everything(running_stack: tuple[Stack, str, dict[str, Any]]) -> None:
    stack, _, state = running_stack
    assert all(_port_open(port) for port in stack.ports.values())
    # A second start on the same data folder is refused rather than fighting over the cluster.
    second = subprocess.run(stack.command(), capture_output=True, text=True, timeout=60, check=False)
    assert (second.returncode, "already runs" in second.stderr) == (1, True)
    assert all(_port_open(port) for port in stack.ports.values())

    stopped = subprocess.run(
        stack.command("--stop"), capture_output=True, text=True, timeout=STOP_TIMEOUT, check=False
    )
    assert stopped.returncode == 0, stopped.stderr
    assert stack.process.wait(timeout=STOP_TIMEOUT) == 0
    _assert_all_stopped(stack, state)


def test_check_starts_answers_ready_and_stops() -> None:
    stack = _start("--check")
    try:
        assert stack.process.wait(timeout=START_TIMEOUT) == 0, stack.stderr_tail
        assert LAST_LINE in stack.stdout
        assert not any(_port_open(port) for port in stack.ports.values())
        assert not (stack.data / STATE_FILE).exists()
    finally:
        _cleanup(stack)
