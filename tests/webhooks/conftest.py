"""A service wired to an in-process NetValve sandbox and an in-process Medusa receiver."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from app.main import create_app
from app.models import Payment, PaymentStatus, WebhookEvent, WebhookOutbox
from netvalve_sandbox.main import create_app as create_sandbox
from netvalve_sandbox.main import sandbox_of
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.settings import SandboxSettings
from tests.conftest import make_settings
from tests.support.webhooks import (
    MEDUSA_SECRET,
    MEDUSA_URL,
    WEBHOOK_HEADER,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    HostRouter,
    MedusaReceiver,
    card_body,
)

SANDBOX_AUTH = {"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"}


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("NETVALVE_MID_ID_"):
            monkeypatch.delenv(name)


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    sandbox_app: FastAPI
    sandbox: Sandbox
    sandbox_client: httpx.AsyncClient
    receiver: MedusaReceiver

    @property
    def state(self) -> Any:
        return self.app.state

    async def sandbox_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.sandbox_client.post(path, json=body, headers=SANDBOX_AUTH)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def sandbox_sale(self, client_order_id: str, **extra: Any) -> dict[str, Any]:
        return await self.sandbox_post("/sale", card_body(client_order_id) | extra)

    async def sandbox_authorize(self, client_order_id: str, **extra: Any) -> dict[str, Any]:
        return await self.sandbox_post("/authorize", card_body(client_order_id) | extra)

    async def drain_sandbox(self) -> None:
        response = await self.sandbox_client.post("/_sandbox/webhooks/drain", params={"timeout": 5})
        assert response.json() == {"drained": True, "pending": 0}, response.text

    async def add_payment(self, **fields: Any) -> int:
        values: dict[str, Any] = {
            "cart_id": "cart_01TEST",
            "payment_session_id": "payses_01TEST",
            "currency": "eur",
            "amount_minor": 1250,
            "capture_mode": "sale",
            "status": PaymentStatus.PENDING,
            "attempt": 1,
        }
        values.update(fields)
        values.setdefault("medusa_amount", Decimal(values["amount_minor"]) / 100)
        async with self.state.sessionmaker.begin() as db:
            payment = Payment(**values)
            db.add(payment)
            await db.flush()
            return int(payment.id)

    async def payment(self, payment_id: int) -> Payment:
        async with self.state.sessionmaker() as db:
            payment = await db.get(Payment, payment_id)
            assert payment is not None
            return payment

    async def events(self) -> list[WebhookEvent]:
        async with self.state.sessionmaker() as db:
            result = await db.execute(select(WebhookEvent).order_by(WebhookEvent.id))
            return list(result.scalars().all())

    async def outbox(self) -> list[WebhookOutbox]:
        async with self.state.sessionmaker() as db:
            result = await db.execute(select(WebhookOutbox).order_by(WebhookOutbox.id))
            return list(result.scalars().all())

    async def make_due(self) -> None:
        async with self.state.sessionmaker.begin() as db:
            await db.execute(text("UPDATE webhook_events SET next_attempt_at = now() - interval '1 second'"))
            await db.execute(text("UPDATE webhook_outbox SET next_attempt_at = now() - interval '1 second'"))


MakeStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(db: str) -> AsyncIterator[MakeStack]:
    """Build service + sandbox + Medusa receiver; ``sandbox_webhooks`` points NetValve's webhooks at us."""
    async with contextlib.AsyncExitStack() as exits:

        async def make(
            *,
            client_addr: tuple[str, int] = ("127.0.0.1", 50000),
            sandbox_webhooks: bool = False,
            receiver: MedusaReceiver | None = None,
            **overrides: Any,
        ) -> Stack:
            receiver = receiver or MedusaReceiver()
            values: dict[str, Any] = {
                "medusa_webhook_url": MEDUSA_URL,
                "medusa_webhook_secret": MEDUSA_SECRET,
                "netvalve_max_retries": 0,
            }
            values.update(overrides)
            settings = make_settings(db, **values)
            routes: dict[str, httpx.AsyncBaseTransport] = {}
            outbound = await exits.enter_async_context(httpx.AsyncClient(transport=HostRouter(routes)))
            app = create_app(settings, http_client=outbound)
            to_service = await exits.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test")
            )
            sandbox_settings = SandboxSettings(
                webhook_url=f"http://service.test{WEBHOOK_PATH}" if sandbox_webhooks else None,
                webhook_header_name=WEBHOOK_HEADER,
                webhook_header_value=WEBHOOK_SECRET,
                webhook_retry_schedule=[0.02, 0.05],
                pending_settle_seconds=0.2,
                timeout_seconds=0.2,
            )
            sandbox_app = create_sandbox(sandbox_settings, webhook_client=to_service)
            routes["netvalve.test"] = httpx.ASGITransport(app=sandbox_app)
            routes["medusa.test"] = httpx.ASGITransport(app=receiver.app())
            await exits.enter_async_context(app.router.lifespan_context(app))
            await exits.enter_async_context(sandbox_app.router.lifespan_context(sandbox_app))
            client = await exits.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app, client=client_addr), base_url="http://service.test"
                )
            )
            sandbox_client = await exits.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=sandbox_app), base_url="http://sandbox.test"
                )
            )
            return Stack(app, client, sandbox_app, sandbox_of(sandbox_app), sandbox_client, receiver)

        yield make


@pytest.fixture
async def stack(make_stack: MakeStack) -> Stack:
    return await make_stack()
