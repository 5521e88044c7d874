"""One command, no Docker: PostgreSQL under .data/, migrations, demo Medusa data, the NetValve sandbox, the
service and the demo storefront (a checkout page on its own origin, in STORE_CORS). Prints the checkout
pages' URLs and a walk-through ready to paste into bash; Ctrl-C, SIGTERM or ``--stop`` stops everything it
started.

Standard output carries only the walk-through (every other line is a bash comment); the logs of the service,
the sandbox and the migrations go to standard error. While the stack runs, ``<data>/local_stack.json`` names
its ports and process ids."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from devtools.pgcluster import Cluster, server_can_reach, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = "local_stack.json"
SERVICE_KEY = "local-service-key-0123456789"
WEBHOOK_SECRET = "local-webhook-secret-0123456789"
# The configured currencies: each gets a MID, and a demo region and cart with this amount.
MIDS = {
    "eur": "3f0c9a57-6d0e-4b43-9a53-0b1f1c2b7e01",
    "usd": "8b1d2f43-2a6c-4f1e-b7a2-5c9e0d3f4a12",
}
DEMO_AMOUNTS = {"eur": Decimal("49.90"), "usd": Decimal("19.99")}
WALKTHROUGH_CURRENCY = "eur"
TEST_CARD = "4012000098765439"
REFUND_AMOUNT = "10.00"
STOP_TIMEOUT = 60.0


def _data_dir(requested: Path) -> Path:
    requested.mkdir(parents=True, exist_ok=True)
    if server_can_reach(requested):
        return requested / "pg"
    # The postgres user cannot enter this folder (e.g. a checkout under /root): keep the cluster where it can.
    digest = hashlib.sha256(str(requested).encode()).hexdigest()[:12]
    fallback = Path("/var/tmp") / f"netvalve-local-{digest}"
    fallback.mkdir(parents=True, exist_ok=True)
    os.chmod(fallback, 0o755)  # noqa: S103  (the postgres user must traverse it)
    return fallback / "pg"


async def _prepare_database(dsn: str) -> dict[str, Any]:
    """The demo Medusa rows: a publishable key, and per configured currency a region and a cart with a payment
    collection and a pending netvalve payment session. New rows on every start, so the walk-through always
    has an unpaid cart."""
    sys.path.insert(0, str(ROOT))
    from devtools.medusa_rows import create_cart, create_publishable_key

    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.cart') IS NOT NULL")
        if not exists:
            await conn.execute((ROOT / "tests" / "fixtures" / "medusa_schema.sql").read_text())
        key = await create_publishable_key(conn, title="Local demo")
        carts: dict[str, dict[str, str]] = {}
        for currency in MIDS:
            amount = DEMO_AMOUNTS[currency]
            cart = await create_cart(conn, currency=currency, amount=amount)
            await conn.execute(
                "UPDATE region SET name = $1 WHERE id = $2", f"Demo {currency.upper()}", cart.region_id
            )
            carts[currency] = {
                "cart_id": cart.cart_id,
                "region_id": cart.region_id,
                "payment_collection_id": str(cart.payment_collection_id),
                "payment_session_id": str(cart.payment_session_id),
                "amount": str(amount),
            }
    finally:
        await conn.close()
    return {"publishable_key": key, "carts": carts}


def _wait_http(url: str, children: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise RuntimeError(f"a process of the stack exited before {url} answered (see the log above)")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (local URL)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200")


def _postmaster_pid(pg_dir: Path) -> int | None:
    try:
        return int((pg_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, its parent has not reaped it yet) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _running_stack(data: Path) -> dict[str, Any] | None:
    """The state of the stack running under ``data``, if its process is still alive."""
    try:
        state: dict[str, Any] = json.loads((data / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    pid = int(state["pid"])
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return state if _alive(pid) else None
    return state if b"devtools.local_stack" in cmdline else None


def checkout_url(storefront_url: str, cart_id: str) -> str:
    return f"{storefront_url}/?cart_id={cart_id}"


def walkthrough(
    *,
    service_url: str,
    sandbox_url: str,
    storefront_url: str,
    dsn: str,
    pg_dir: Path,
    demo: dict[str, Any],
    year: int,
) -> str:
    """What the stack prints: valid bash, every step's output feeding the next through shell variables."""
    carts = demo["carts"]
    cart = carts[WALKTHROUGH_CURRENCY]
    listing = "".join(
        f"\n#                       {cur.upper()} {rows['cart_id']} ({rows['amount']})"
        for cur, rows in carts.items()
    )
    pages = "".join(
        f"\n#   {cur.upper()} cart ({rows['amount']}):  {checkout_url(storefront_url, rows['cart_id'])}"
        for cur, rows in carts.items()
    )
    return f"""\
# NetValve payment service: the local stack is up.
#
# Pay in a browser: open a demo checkout page and type a test card into NetValve's fields
# (4012 0000 9876 5439 is approved, 4000 0000 0000 9995 is declined; any future expiry, CVV 999):{pages}
#
# Or by hand: paste the lines below into bash in another terminal
# (they need curl and jq); each step keeps what the next one needs in a shell variable.
#   service           {service_url}   (API docs: {service_url}/docs)
#   demo storefront   {storefront_url}   (its origin is the service's STORE_CORS)
#   NetValve sandbox  {sandbox_url}
#   PostgreSQL        {dsn}   (data: {pg_dir})
#   demo Medusa data  a publishable key, and per currency a region and a cart with a payment collection and a
#                     netvalve payment session:{listing}
SERVICE={service_url}
SANDBOX={sandbox_url}
PK={demo["publishable_key"]}
SERVICE_KEY={SERVICE_KEY}
CART={cart["cart_id"]}

# 1. HPF session for the {WALKTHROUGH_CURRENCY.upper()} cart ({cart["amount"]}), with the storefront's \
publishable key.
HPF=$(curl -sS -X POST "$SERVICE/api/v1/netvalve/hpf/session" -H "x-publishable-api-key: $PK" \\
  -H 'content-type: application/json' -d "$(jq -n --arg cart "$CART" '{{cart_id: $cart}}')")
echo "$HPF" | jq .
PAYMENT_TOKEN=$(echo "$HPF" | jq -r .hpf.payment_token)

# 2. The shopper types a test card into the sandbox's hosted fields, which tokenize it under that token.
curl -sS -X POST "$SANDBOX/_sandbox/tokenize" -H 'content-type: application/json' \\
  -d "$(jq -n --arg token "$PAYMENT_TOKEN" \\
        '{{paymentToken: $token, cardNumber: "{TEST_CARD}", expiryMonth: "12", expiryYear: "{year + 3}", \
cvv: "999"}}')" \\
  | jq .

# 3. Pay with the token (publishable key): the service charges the amount Medusa holds for the cart.
PAYMENT=$(curl -sS -X POST "$SERVICE/api/v1/netvalve/payment" -H "x-publishable-api-key: $PK" \\
  -H 'content-type: application/json' \\
  -d "$(jq -n --arg cart "$CART" --arg token "$PAYMENT_TOKEN" '{{cart_id: $cart, payment_token: $token}}')")
echo "$PAYMENT" | jq .

# 4. Status with the service key (amounts and ids; a publishable key sees only the status).
STATUS=$(curl -sS "$SERVICE/api/v1/netvalve/status?cart_id=$CART" -H "Authorization: Bearer $SERVICE_KEY")
echo "$STATUS" | jq .
TRANSACTION_ID=$(echo "$STATUS" | jq .netvalve_transaction_id)

# 5. Refund {REFUND_AMOUNT} of it with the service key.
curl -sS -X POST "$SERVICE/api/v1/netvalve/refund" -H "Authorization: Bearer $SERVICE_KEY" \\
  -H 'content-type: application/json' \\
  -d "$(jq -n --argjson id "$TRANSACTION_ID" '{{transaction_id: $id, amount: "{REFUND_AMOUNT}"}}')" \\
  | jq .

# 6. What the NetValve sandbox recorded: the sale and its refund.
curl -sS "$SANDBOX/_sandbox/transactions" \\
  | jq 'map({{transactionID, type, parentID, amount, currency, state}})'

# Ctrl-C in the stack's terminal, or `scripts/run_local.sh --stop`, stops the service, the sandbox and \
PostgreSQL.
"""


def _stop_running(data: Path) -> int:
    state = _running_stack(data)
    if state is None:
        sys.stderr.write(f"no local stack is running under {data}\n")
        return 0
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        sys.stderr.write(f"the local stack (pid {pid}) did not stop within {STOP_TIMEOUT:.0f}s\n")
        return 1
    postgres = state["postgres"]
    # Belt and braces: a stack killed outright leaves its cluster running.
    Cluster(Path(postgres["data_dir"]), int(postgres["port"])).stop()
    sys.stderr.write(f"stopped the local stack (pid {pid})\n")
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _terminate(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    parser.add_argument("--pg-port", type=int, default=55432)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--sandbox-port", type=int, default=8081)
    parser.add_argument("--storefront-port", type=int, default=8082)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="start, verify /health and /ready, then stop")
    mode.add_argument("--stop", action="store_true", help="stop the stack running under --data")
    args = parser.parse_args(argv)
    data: Path = args.data.resolve()

    if args.stop:
        return _stop_running(data)
    running = _running_stack(data)
    if running is not None:
        sys.stderr.write(f"a local stack already runs under {data} (pid {running['pid']}); use --stop\n")
        return 1

    # Ctrl-C raises KeyboardInterrupt; SIGTERM and a closed terminal unwind the same way, through finally.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    pg_dir = _data_dir(data)
    cluster = Cluster(pg_dir, args.pg_port)
    children: list[subprocess.Popen[bytes]] = []
    try:
        cluster.start(durable=True)
        dsn = cluster.create_database("netvalve")
        service_url = f"http://127.0.0.1:{args.port}"
        sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
        storefront_url = f"http://127.0.0.1:{args.storefront_port}"
        env = {
            **os.environ,
            "APP_ENV": "development",
            "LOG_FORMAT": "console",
            "DATABASE_URL": dsn,
            # Pinned so that a .env or an exported variable cannot point the demo elsewhere.
            "MEDUSA_DATABASE_URL": "",
            "STOREFRONT_AUTH": "publishable_key",
            "NETVALVE_CAPTURE_MODE": "sale",
            "NETVALVE_PAYMENT_AUTH": "api_key",
            "NETVALVE_SITE_ID": "",
            "NETVALVE_ENVIRONMENT": "sandbox",
            "NETVALVE_API_KEY": "sandbox-api-key",
            "NETVALVE_CLIENT_ID": "sandbox-client",
            "NETVALVE_PAYMENT_API_URL": sandbox_url,
            "NETVALVE_HPP_BASE_URL": sandbox_url,
            "NETVALVE_BACKOFFICE_API_URL": sandbox_url,
            # NetValve's hosted page sends the shopper back to the storefront's /checkout/netvalve/<outcome>.
            "NETVALVE_RETURN_BASE_URL": storefront_url,
            "STORE_CORS": storefront_url,
            "SERVICE_API_KEYS": SERVICE_KEY,
            "NETVALVE_WEBHOOK_AUTH_HEADER": "x-netvalve-webhook",
            "NETVALVE_WEBHOOK_AUTH_VALUES": WEBHOOK_SECRET,
            "SANDBOX_PUBLIC_URL": sandbox_url,
            "SANDBOX_PORT": str(args.sandbox_port),
            "SANDBOX_WEBHOOK_URL": f"{service_url}/api/v1/netvalve/webhook",
            "SANDBOX_WEBHOOK_HEADER_NAME": "x-netvalve-webhook",
            "SANDBOX_WEBHOOK_HEADER_VALUE": WEBHOOK_SECRET,
            **{f"NETVALVE_MID_ID_{currency.upper()}": mid for currency, mid in MIDS.items()},
        }
        bin_dir = Path(sys.executable).parent
        subprocess.run(
            [str(bin_dir / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True, stdout=sys.stderr
        )
        demo = asyncio.run(_prepare_database(dsn))
        children.append(
            subprocess.Popen([str(bin_dir / "netvalve-sandbox")], cwd=ROOT, env=env, stdout=sys.stderr)
        )
        children.append(
            subprocess.Popen(
                [str(bin_dir / "uvicorn"), "app.main:app", "--host", "127.0.0.1", "--port", str(args.port)],
                cwd=ROOT,
                env=env,
                stdout=sys.stderr,
            )
        )
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "devtools.storefront_server",
                    "--port",
                    str(args.storefront_port),
                    "--service-url",
                    service_url,
                    "--publishable-key",
                    demo["publishable_key"],
                ],
                cwd=ROOT,
                env=env,
                stdout=sys.stderr,
            )
        )
        state = {
            "pid": os.getpid(),
            "service": {"url": service_url, "port": args.port, "pid": children[1].pid},
            "sandbox": {"url": sandbox_url, "port": args.sandbox_port, "pid": children[0].pid},
            "storefront": {"url": storefront_url, "port": args.storefront_port, "pid": children[2].pid},
            "postgres": {
                "dsn": dsn,
                "port": args.pg_port,
                "data_dir": str(pg_dir),
                "pid": _postmaster_pid(pg_dir),
            },
            "service_key": SERVICE_KEY,
            "demo": demo,
        }
        (data / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
        wait_for_port(args.sandbox_port)
        _wait_http(f"{sandbox_url}/_sandbox/health", children)
        _wait_http(f"{service_url}/health", children)
        _wait_http(f"{service_url}/ready", children)
        _wait_http(f"{storefront_url}/config.json", children)
        sys.stdout.write(
            walkthrough(
                service_url=service_url,
                sandbox_url=sandbox_url,
                storefront_url=storefront_url,
                dsn=dsn,
                pg_dir=pg_dir,
                demo=demo,
                year=time.localtime().tm_year,
            )
        )
        sys.stdout.flush()
        if args.check:
            return 0
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        sys.stderr.write("a process of the stack exited; stopping the rest\n")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave PostgreSQL running.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        _terminate(children)
        cluster.stop()
        (data / STATE_FILE).unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
