"""One command, no Docker: PostgreSQL under .data/, migrations, demo Medusa data, the NetValve sandbox and
the service. Prints a walk-through; Ctrl-C (or SIGTERM) stops everything it started."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import asyncpg

from devtools.pgcluster import Cluster, server_can_reach, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SERVICE_KEY = "local-service-key-0123456789"
WEBHOOK_SECRET = "local-webhook-secret-0123456789"
EUR_MID = "3f0c9a57-6d0e-4b43-9a53-0b1f1c2b7e01"
USD_MID = "8b1d2f43-2a6c-4f1e-b7a2-5c9e0d3f4a12"


def _data_dir(requested: Path) -> Path:
    requested.mkdir(parents=True, exist_ok=True)
    if server_can_reach(requested):
        return requested / "pg"
    # The postgres user cannot enter this checkout (e.g. under /root): keep the cluster where it can.
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    fallback = Path("/var/tmp") / f"netvalve-local-{digest}"
    fallback.mkdir(parents=True, exist_ok=True)
    os.chmod(fallback, 0o755)  # noqa: S103  (the postgres user must traverse it)
    return fallback / "pg"


async def _prepare_database(dsn: str) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from tests.factories import create_cart, create_publishable_key

    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.cart') IS NOT NULL")
        if not exists:
            await conn.execute((ROOT / "tests" / "fixtures" / "medusa_schema.sql").read_text())
        key = await create_publishable_key(conn, title="Local demo")
        eur = await create_cart(conn, currency="eur", amount=Decimal("49.90"))
        usd = await create_cart(conn, currency="usd", amount=Decimal("19.99"))
    finally:
        await conn.close()
    return {"key": key, "eur_cart": eur.cart_id, "usd_cart": usd.cart_id}


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (local URL)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    parser.add_argument("--pg-port", type=int, default=55432)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--sandbox-port", type=int, default=8081)
    parser.add_argument("--check", action="store_true", help="start, verify /health and /ready, then stop")
    args = parser.parse_args(argv)

    cluster = Cluster(_data_dir(args.data.resolve()), args.pg_port)
    cluster.start(durable=True)
    dsn = cluster.create_database("netvalve")
    service_url = f"http://127.0.0.1:{args.port}"
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    env = {
        **os.environ,
        "APP_ENV": "development",
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
        "NETVALVE_RETURN_BASE_URL": service_url,
        "SERVICE_API_KEYS": SERVICE_KEY,
        "NETVALVE_WEBHOOK_AUTH_HEADER": "x-netvalve-webhook",
        "NETVALVE_WEBHOOK_AUTH_VALUES": WEBHOOK_SECRET,
        "SANDBOX_PUBLIC_URL": sandbox_url,
        "SANDBOX_PORT": str(args.sandbox_port),
        "SANDBOX_WEBHOOK_URL": f"{service_url}/api/v1/netvalve/webhook",
        "SANDBOX_WEBHOOK_HEADER_VALUE": WEBHOOK_SECRET,
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True)
    demo = asyncio.run(_prepare_database(dsn))

    children = [
        subprocess.Popen([str(bin_dir / "netvalve-sandbox")], cwd=ROOT, env=env),
        subprocess.Popen(
            [str(bin_dir / "uvicorn"), "app.main:app", "--host", "127.0.0.1", "--port", str(args.port)],
            cwd=ROOT,
            env=env,
        ),
    ]

    def stop(*_: object) -> None:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=15)
        cluster.stop()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        wait_for_port(args.sandbox_port)
        _wait_http(f"{service_url}/health")
        _wait_http(f"{service_url}/ready")
        pk, cart = demo["key"], demo["eur_cart"]
        sys.stdout.write(
            f"""
Service  {service_url}  (docs: {service_url}/docs)   NetValve sandbox {sandbox_url}
PostgreSQL {dsn}

1. HPF session for the demo EUR cart (49.90):
   curl -s -X POST {service_url}/api/v1/netvalve/hpf/session -H 'x-publishable-api-key: {pk}' \\
        -H 'content-type: application/json' -d '{{"cart_id": "{cart}"}}'
2. Type a test card into the sandbox's hosted fields (TOKEN = hpf.payment_token from step 1):
   curl -s -X POST {sandbox_url}/_sandbox/tokenize -H 'content-type: application/json' \\
        -d '{{"paymentToken": "TOKEN", "cardNumber": "4012000098765439", "expiryMonth": "12", \\
"expiryYear": "2030", "cvv": "999"}}'
3. Pay:
   curl -s -X POST {service_url}/api/v1/netvalve/payment -H 'x-publishable-api-key: {pk}' \\
        -H 'content-type: application/json' -d '{{"cart_id": "{cart}", "payment_token": "TOKEN"}}'
4. Status:
   curl -s '{service_url}/api/v1/netvalve/status?cart_id={cart}' -H 'Authorization: Bearer {SERVICE_KEY}'
5. Refund 10.00 with the service key (TXN = netvalve_transaction_id from step 3):
   curl -s -X POST {service_url}/api/v1/netvalve/refund -H 'Authorization: Bearer {SERVICE_KEY}' \\
        -H 'content-type: application/json' -d '{{"transaction_id": TXN, "amount": "10.00"}}'

Ctrl-C stops the service, the sandbox and PostgreSQL.
"""
        )
        sys.stdout.flush()
        if args.check:
            return 0
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    raise SystemExit(main())
