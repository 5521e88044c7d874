"""An Idempotency-Key whose request died with the process must not answer 409 "still running" for a day.

After a SIGKILL nothing is running any more; once the key's lease is over, the same key runs again, and the
ledger (not the key) keeps that from charging twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import httpx
import pytest

from devtools.medusa_rows import create_cart, create_publishable_key
from tests.support.processes import (
    NO_KEEPALIVE,
    OwnDatabase,
    SandboxServer,
    ServiceProcess,
    hpf_token,
    payment_in_flight,
    sale_held,
    service_ready,
    wait_until,
)

LEASE_SECONDS = 1


async def test_key_of_a_killed_request_is_usable_after_its_lease(
    own_db: OwnDatabase,
    sandbox_for_service: tuple[SandboxServer, int],
    service_process: ServiceProcess,
) -> None:
    server, _ = sandbox_for_service
    service = service_process
    service.env["IDEMPOTENCY_LEASE_SECONDS"] = str(LEASE_SECONDS)
    service.start()
    async with (
        # No keep-alive: a pooled connection to the killed process would fail the first request after it.
        httpx.AsyncClient(base_url=service.url, timeout=30, limits=NO_KEEPALIVE) as client,
        httpx.AsyncClient(base_url=server.url, timeout=30) as nv,
    ):
        await wait_until(lambda: service_ready(client), seconds=30)
        conn = await asyncpg.connect(own_db.dsn)
        try:
            storefront = {"x-publishable-api-key": await create_publishable_key(conn)}
            cart = await create_cart(conn, amount=Decimal("25.00"))
            token = await hpf_token(client, nv, cart.cart_id, storefront)
            body = {"cart_id": cart.cart_id, "payment_token": token}
            headers = {**storefront, "Idempotency-Key": "checkout-1"}

            await nv.put("/_sandbox/knobs", json={"latency_ms": 2000, "fault_paths": ["/sale"]})
            in_flight = asyncio.create_task(
                client.post("/api/v1/netvalve/payment", json=body, headers=headers)
            )
            await wait_until(lambda: payment_in_flight(conn, cart.cart_id), seconds=10)
            await wait_until(lambda: sale_held(nv), seconds=10)
            service.kill()
            with pytest.raises(httpx.TransportError):
                await in_flight
            await nv.put("/_sandbox/knobs", json={})
            service.start()
            await wait_until(lambda: service_ready(client), seconds=30)
            await asyncio.sleep(LEASE_SECONDS + 0.5)

            retried = await client.post("/api/v1/netvalve/payment", json=body, headers=headers)
        finally:
            await conn.close()
        assert retried.status_code in (200, 202), retried.text
        assert retried.json()["status"] in ("pending", "unknown", "captured")
        await wait_until(lambda: _sales(nv, 1), seconds=10)
        await asyncio.sleep(0.5)
        assert await _sales(nv, 1)


async def _sales(nv: httpx.AsyncClient, count: int) -> bool:
    transactions = (await nv.get("/_sandbox/transactions")).json()
    return len([t for t in transactions if t["type"] == "SALE"]) == count
