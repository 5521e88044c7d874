"""The service is SIGKILLed while a charge is on the wire, then started again.

What was acknowledged (a 2xx to a shopper, a 200 to NetValve's webhook) must still be there; the payment whose
answer died with the process is open in the ledger and reconciliation settles it to NetValve's truth; NetValve
never charges twice, however the shopper retries."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.medusa_rows import create_cart, create_publishable_key
from tests.conftest import SERVICE_KEY
from tests.support.processes import (
    NO_KEEPALIVE,
    SANDBOX_AUTH,
    OwnDatabase,
    SandboxServer,
    ServiceProcess,
    hpf_token,
    payment_in_flight,
    sale_held,
    service_ready,
    wait_until,
)
from tests.support.webhooks import card_body

# Long enough that the kill certainly lands while the sale is on the wire.
SALE_LATENCY_MS = 2500


async def test_sigkill_mid_charge_loses_nothing_acknowledged_and_never_charges_twice(
    own_db: OwnDatabase,
    sandbox_for_service: tuple[SandboxServer, int],
    service_process: ServiceProcess,
) -> None:
    server, _ = sandbox_for_service
    service = service_process
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
            done_cart = await create_cart(conn, amount=Decimal("15.00"))
            killed_cart = await create_cart(conn, amount=Decimal("25.00"))

            async def token(cart_id: str) -> str:
                return await hpf_token(client, nv, cart_id, storefront)

            def pay(cart_id: str, value: str, key: str) -> Any:
                return client.post(
                    "/api/v1/netvalve/payment",
                    json={"cart_id": cart_id, "payment_token": value},
                    headers={**storefront, "Idempotency-Key": key},
                )

            # 1. Acknowledged work before the crash: a payment and NetValve's webhooks.
            done_token = await token(done_cart.cart_id)
            done = await pay(done_cart.cart_id, done_token, "done-1")
            assert done.status_code == 200, done.text
            for number in range(5):
                before = card_body(f"before-{number}", "9.99")
                sale = await nv.post("/sale", json=before, headers=SANDBOX_AUTH)
                assert sale.status_code == 200, sale.text
            await _drain(nv)

            # 2. A charge on the wire when the process dies.
            killed_token = await token(killed_cart.cart_id)
            await nv.put("/_sandbox/knobs", json={"latency_ms": SALE_LATENCY_MS, "fault_paths": ["/sale"]})
            in_flight = asyncio.create_task(pay(killed_cart.cart_id, killed_token, "killed-1"))
            await wait_until(lambda: payment_in_flight(conn, killed_cart.cart_id), seconds=10)
            await wait_until(lambda: sale_held(nv), seconds=10)
            service.kill()
            with pytest.raises(httpx.TransportError):
                await in_flight

            # 3. NetValve goes on: the charge lands, and webhooks find nobody home (the sandbox retries them).
            await nv.put("/_sandbox/knobs", json={})
            for number in range(3):
                sale = await nv.post("/sale", json=card_body(f"dead-{number}", "9.99"), headers=SANDBOX_AUTH)
                assert sale.status_code == 200, sale.text
            await wait_until(lambda: _charged(nv, killed_cart.payment_session_id), seconds=10)

            # 4. Restart. Nothing acknowledged is lost; the open payment is reconciled to NetValve's truth.
            service.start()
            await wait_until(lambda: service_ready(client), seconds=30)
            row = await conn.fetchrow(
                "SELECT status, operation_in_flight FROM payments WHERE cart_id = $1", killed_cart.cart_id
            )
            assert row is not None
            assert (row["status"], row["operation_in_flight"]) == ("pending", "sale")
            reconciled = await client.post(
                "/api/v1/netvalve/reconcile", json={}, headers={"Authorization": f"Bearer {SERVICE_KEY}"}
            )
            assert reconciled.status_code == 200, reconciled.text
            assert reconciled.json() == {"examined": 1, "settled": 1, "still_open": 0}

            status = {
                cart.cart_id: await client.get(
                    "/api/v1/netvalve/status",
                    params={"cart_id": cart.cart_id},
                    headers={"Authorization": f"Bearer {SERVICE_KEY}"},
                )
                for cart in (done_cart, killed_cart)
            }
            assert {cart_id: r.json()["status"] for cart_id, r in status.items()} == {
                done_cart.cart_id: "captured",
                killed_cart.cart_id: "captured",
            }
            replay = await pay(done_cart.cart_id, done_token, "done-1")
            assert replay.content == done.content
            # The shopper retries with a new key (the old one is test_crash_idempotency.py's subject): the
            # captured payment is answered, nothing is charged again.
            fresh = await pay(killed_cart.cart_id, killed_token, "killed-2")
            assert fresh.status_code == 200, fresh.text
            assert fresh.json()["status"] == "captured"

            await _drain(nv)
            webhooks = (await nv.get("/_sandbox/webhooks")).json()
            stored = await conn.fetch("SELECT event_name, netvalve_transaction_id FROM webhook_events")
            transactions = (await nv.get("/_sandbox/transactions")).json()
        finally:
            await conn.close()

    sales = [t for t in transactions if t["type"] == "SALE"]
    for cart in (done_cart, killed_cart):
        assert len([t for t in sales if t["clientOrderId"].startswith(str(cart.payment_session_id))]) == 1
    stored_keys = [(r["event_name"], r["netvalve_transaction_id"]) for r in stored]
    assert len(stored_keys) == len(set(stored_keys))
    acknowledged = {
        (d["eventName"], d["transactionId"]) for d in webhooks["deliveries"] if d["statusCode"] == 200
    }
    emitted = {(e["eventName"], e["data"]["transactionId"]) for e in webhooks["events"]}
    assert acknowledged <= set(stored_keys)
    assert set(stored_keys) == emitted
    assert all(d["result"] != "gave_up" for d in webhooks["deliveries"])
    assert any(d["statusCode"] is None for d in webhooks["deliveries"]), "no webhook met the dead service"


async def _charged(nv: httpx.AsyncClient, session_id: str | None) -> bool:
    transactions = (await nv.get("/_sandbox/transactions")).json()
    return any(t["type"] == "SALE" and t["clientOrderId"].startswith(str(session_id)) for t in transactions)


async def _drain(nv: httpx.AsyncClient) -> None:
    drained = await nv.post("/_sandbox/webhooks/drain", params={"timeout": 30}, timeout=40)
    assert drained.json() == {"drained": True, "pending": 0}, drained.text
