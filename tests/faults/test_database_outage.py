"""PostgreSQL stops for a few seconds while NetValve delivers webhooks and shoppers pay.

A database outage means the webhook gets a 5xx (NetValve retries), never a 200 for an
event we did not store. The service must come back by itself once PostgreSQL does, and every event NetValve
sent, retries and duplicate copies included, must end stored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from sqlalchemy import select

from app.main import create_app
from app.models import Payment, PaymentStatus, WebhookEvent
from devtools.medusa_rows import create_cart, create_publishable_key
from netvalve_sandbox.main import create_app as create_sandbox
from netvalve_sandbox.settings import SandboxSettings
from tests.conftest import SERVICE_KEY, WEBHOOK_HEADER, WEBHOOK_SECRET, make_settings
from tests.support.processes import (
    APPROVED_CARD,
    SANDBOX_AUTH,
    WEBHOOK_PATH,
    OwnDatabase,
    RecordingTransport,
    service_ready,
    wait_until,
)
from tests.support.webhooks import card_body

OUTAGE_SECONDS = 3.0
PAYING_CARTS = 12


@dataclass
class Outage:
    """When the database was certainly down: from the end of `pg_ctl stop` to the start of `pg_ctl start`."""

    down: float = 0.0
    up: float = 0.0


@dataclass
class PaymentAttempt:
    cart_id: str
    started: float
    ended: float
    status: int
    body: dict[str, Any] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def running(*jobs: Any) -> AsyncIterator[asyncio.Event]:
    """Run background drivers until the block ends; re-raise anything they failed with."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(job(stop)) for job in jobs]
    try:
        yield stop
    finally:
        stop.set()
        async with asyncio.timeout(30):
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


async def test_database_outage_during_webhooks_and_payments_loses_nothing(own_db: OwnDatabase) -> None:
    service_settings = make_settings(
        own_db.dsn,
        webhook_worker_enabled=True,
        webhook_worker_poll_seconds=0.2,
        db_connect_timeout_seconds=1.0,
        db_pool_timeout_seconds=2.0,
        reconcile_min_age_seconds=0,
        netvalve_max_retries=0,
    )
    to_service = RecordingTransport()
    outage = Outage()
    attempts: list[PaymentAttempt] = []

    async with contextlib.AsyncExitStack() as exits:
        webhook_client = await exits.enter_async_context(
            httpx.AsyncClient(transport=to_service, base_url="http://service.test")
        )
        sandbox = create_sandbox(
            SandboxSettings(
                webhook_url=f"http://service.test{WEBHOOK_PATH}",
                webhook_header_name=WEBHOOK_HEADER,
                webhook_header_value=WEBHOOK_SECRET,
                webhook_instant_retries=1,
                # NetValve's schedule, shortened: it must outlast the outage or events would be given up.
                webhook_retry_schedule=[0.5, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
                webhook_timeout_seconds=4.0,
                pending_settle_seconds=0,
                public_url="https://sandbox.test",
            ),
            webhook_client=webhook_client,
        )
        nv = await exits.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://netvalve.test")
        )
        service = create_app(service_settings, http_client=nv)
        to_service.inner = httpx.ASGITransport(app=service, raise_app_exceptions=False)
        await exits.enter_async_context(service.router.lifespan_context(service))
        await exits.enter_async_context(sandbox.router.lifespan_context(sandbox))
        client = await exits.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=service, raise_app_exceptions=False),
                base_url="http://service.test",
            )
        )
        await nv.put("/_sandbox/knobs", json={"duplicate_webhooks": True})

        conn = await asyncpg.connect(own_db.dsn)
        try:
            key = await create_publishable_key(conn)
            carts = [await create_cart(conn, amount=Decimal("12.50")) for _ in range(PAYING_CARTS + 1)]
        finally:
            await conn.close()
        storefront = {"x-publishable-api-key": key}
        tokens: dict[str, str] = {}
        for cart in carts:
            tokens[cart.cart_id] = await _token(client, nv, cart.cart_id, storefront)
        probe_cart, carts = carts[-1], carts[:-1]

        async def sales(stop: asyncio.Event) -> None:
            number = 0
            while not stop.is_set():
                number += 1
                response = await nv.post("/sale", json=card_body(f"direct-{number}"), headers=SANDBOX_AUTH)
                assert response.status_code == 200, response.text
                await asyncio.sleep(0.1)

        async def payments(stop: asyncio.Event) -> None:
            for cart in carts:
                if stop.is_set():
                    return
                started = time.monotonic()
                response = await client.post(
                    "/api/v1/netvalve/payment",
                    json={"cart_id": cart.cart_id, "payment_token": tokens[cart.cart_id]},
                    headers=storefront,
                    timeout=30,
                )
                attempts.append(
                    PaymentAttempt(
                        cart.cart_id, started, time.monotonic(), response.status_code, response.json()
                    )
                )
                await asyncio.sleep(OUTAGE_SECONDS / PAYING_CARTS * 2)

        ready_during_outage: list[int] = []
        async with running(sales, payments):
            await asyncio.sleep(0.8)
            await own_db.stop("fast")
            outage.down = time.monotonic()
            await asyncio.sleep(OUTAGE_SECONDS / 2)
            ready_during_outage.append((await client.get("/ready")).status_code)
            assert (await client.get("/health")).status_code == 200
            await asyncio.sleep(OUTAGE_SECONDS / 2)
            outage.up = time.monotonic()
            await own_db.start()
            await asyncio.sleep(1.0)

        # The service comes back by itself: no restart, no manual step.
        assert ready_during_outage == [503]
        await wait_until(lambda: service_ready(client), seconds=20)
        probe = await client.post(
            "/api/v1/netvalve/payment",
            json={"cart_id": probe_cart.cart_id, "payment_token": tokens[probe_cart.cart_id]},
            headers=storefront,
        )
        assert probe.status_code == 200, probe.text
        assert probe.json()["status"] == PaymentStatus.CAPTURED.value
        drained = await nv.post("/_sandbox/webhooks/drain", params={"timeout": 60}, timeout=70)
        assert drained.json() == {"drained": True, "pending": 0}, drained.text
        reconciled = await client.post(
            "/api/v1/netvalve/reconcile", json={}, headers={"Authorization": f"Bearer {SERVICE_KEY}"}
        )
        assert reconciled.status_code == 200, reconciled.text
        sandbox_view = (await nv.get("/_sandbox/webhooks")).json()
        sandbox_sales = (await nv.get("/_sandbox/transactions")).json()

        async with service.state.sessionmaker() as db:
            stored = list((await db.execute(select(WebhookEvent))).scalars().all())
            ledger = list((await db.execute(select(Payment))).scalars().all())

    # Webhooks: 503 while down, and never a 200 for an event that is not stored.
    deliveries = [e for e in to_service.exchanges if e.path == WEBHOOK_PATH]
    while_down = [e for e in deliveries if e.within(outage.down, outage.up)]
    assert while_down, "no webhook reached the service while the database was down"
    assert {e.status for e in while_down} == {503}, [(e.status, e.answer) for e in while_down]
    assert all(json.loads(e.answer)["error"]["code"] == "database_unavailable" for e in while_down)
    stored_keys = [(row.event_name, row.netvalve_transaction_id) for row in stored]
    assert len(stored_keys) == len(set(stored_keys)), "an event was stored twice"
    for exchange in deliveries:
        if exchange.status == 200:
            event = json.loads(exchange.body)
            assert (event["eventName"], event["data"]["transactionId"]) in set(stored_keys)
    # Every event NetValve emitted ends stored exactly once; none was given up.
    emitted = {(e["eventName"], e["data"]["transactionId"]) for e in sandbox_view["events"]}
    assert set(stored_keys) == emitted
    assert all(d["result"] != "gave_up" for d in sandbox_view["deliveries"])
    assert any(d["result"] == "retrying" for d in sandbox_view["deliveries"])

    # Payments: never a 2xx while down, a 2xx only for what the ledger holds, every charge accounted for.
    # (That the answer while down is 503, not 500, is test_database_outage_payments.py's subject.)
    paid_while_down = [a for a in attempts if a.started >= outage.down and a.ended <= outage.up]
    assert paid_while_down, "no payment request was made while the database was down"
    assert all(a.status >= 500 for a in paid_while_down), [(a.status, a.body) for a in paid_while_down]
    by_cart = {p.cart_id: p for p in ledger}
    for attempt in attempts:
        if attempt.status in (200, 202):
            assert attempt.cart_id in by_cart
    charges = [
        t for t in sandbox_sales if t["type"] == "SALE" and not t["clientOrderId"].startswith("direct-")
    ]
    assert len({t["clientOrderId"] for t in charges}) == len(charges)
    for charge in charges:
        payment = next(p for p in ledger if p.client_order_id == charge["clientOrderId"])
        assert payment.status == PaymentStatus.CAPTURED, (payment.status, charge)
        assert payment.netvalve_transaction_id == charge["transactionID"]
    assert all(p.status != PaymentStatus.UNKNOWN and p.operation_in_flight is None for p in ledger)


async def _token(
    client: httpx.AsyncClient, nv: httpx.AsyncClient, cart_id: str, storefront: dict[str, str]
) -> str:
    session = await client.post("/api/v1/netvalve/hpf/session", json={"cart_id": cart_id}, headers=storefront)
    assert session.status_code == 200, session.text
    token: str = session.json()["hpf"]["payment_token"]
    tokenized = await nv.post(
        "/_sandbox/tokenize",
        json={
            "paymentToken": token,
            "cardNumber": APPROVED_CARD,
            "expiryMonth": "12",
            "expiryYear": "2030",
            "cvv": "999",
        },
    )
    assert tokenized.status_code == 200, tokenized.text
    return token
