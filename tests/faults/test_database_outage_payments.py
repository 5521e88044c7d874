"""With PostgreSQL down, the payment routes answer 503 with Retry-After (the client may retry; nothing was
charged), not an anonymous 500, and they work again once it is back, without a restart."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import asyncpg
import httpx

from app.main import create_app
from devtools.medusa_rows import create_cart, create_publishable_key
from netvalve_sandbox.main import create_app as create_sandbox
from netvalve_sandbox.settings import SandboxSettings
from tests.conftest import SERVICE_KEY, make_settings
from tests.support.processes import OwnDatabase, hpf_token, service_ready, wait_until


async def test_payment_routes_answer_503_while_the_database_is_down(own_db: OwnDatabase) -> None:
    settings = make_settings(
        own_db.dsn,
        netvalve_capture_mode="authorize",
        db_connect_timeout_seconds=1.0,
        db_pool_timeout_seconds=2.0,
    )
    sandbox = create_sandbox(
        SandboxSettings(webhooks_enabled=False, pending_settle_seconds=0, public_url="https://sandbox.test")
    )
    async with contextlib.AsyncExitStack() as exits:
        nv = await exits.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://netvalve.test")
        )
        service = create_app(settings, http_client=nv)
        await exits.enter_async_context(service.router.lifespan_context(service))
        client = await exits.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=service, raise_app_exceptions=False),
                base_url="http://service.test",
            )
        )
        conn = await asyncpg.connect(own_db.dsn)
        try:
            storefront = {"x-publishable-api-key": await create_publishable_key(conn)}
            paid_cart = await create_cart(conn, amount=Decimal("30.00"))
            open_cart = await create_cart(conn, amount=Decimal("30.00"))
        finally:
            await conn.close()
        service_auth = {"Authorization": f"Bearer {SERVICE_KEY}"}

        async def token(cart_id: str) -> str:
            return await hpf_token(client, nv, cart_id, storefront)

        paid = await client.post(
            "/api/v1/netvalve/payment",
            json={"cart_id": paid_cart.cart_id, "payment_token": await token(paid_cart.cart_id)},
            headers=storefront,
        )
        assert paid.status_code == 200, paid.text
        paid_status = await client.get(
            "/api/v1/netvalve/status", params={"cart_id": paid_cart.cart_id}, headers=service_auth
        )
        transaction_id = paid_status.json()["netvalve_transaction_id"]
        open_token = await token(open_cart.cart_id)
        pay_body = {"cart_id": open_cart.cart_id, "payment_token": open_token}

        await own_db.stop("fast")
        while_down = {
            "payment": await client.post("/api/v1/netvalve/payment", json=pay_body, headers=storefront),
            "payment with key": await client.post(
                "/api/v1/netvalve/payment", json=pay_body, headers={**storefront, "Idempotency-Key": "k-1"}
            ),
            "capture": await client.post(
                "/api/v1/netvalve/capture", json={"transaction_id": transaction_id}, headers=service_auth
            ),
            "status": await client.get(
                "/api/v1/netvalve/status", params={"cart_id": paid_cart.cart_id}, headers=service_auth
            ),
        }
        await own_db.start()

        answers = {name: (r.status_code, r.json()["error"]["code"]) for name, r in while_down.items()}
        assert answers == dict.fromkeys(while_down, (503, "database_unavailable")), answers
        assert all(r.headers.get("retry-after") for r in while_down.values())
        assert [t["type"] for t in (await nv.get("/_sandbox/transactions")).json()] == ["AUTHORIZATION"]

        await wait_until(lambda: service_ready(client), seconds=20)
        again = await client.post(
            "/api/v1/netvalve/payment", json=pay_body, headers={**storefront, "Idempotency-Key": "k-1"}
        )
        assert again.status_code == 200, again.text
        captured = await client.post(
            "/api/v1/netvalve/capture", json={"transaction_id": transaction_id}, headers=service_auth
        )
        assert captured.status_code == 200, captured.text
        kinds = [t["type"] for t in (await nv.get("/_sandbox/transactions")).json()]
        assert sorted(kinds) == ["AUTHORIZATION", "AUTHORIZATION", "CAPTURE"]
