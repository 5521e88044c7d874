"""Helpers shared by the sandbox tests: a webhook receiver app and a harness around one sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netvalve_sandbox.main import create_app, sandbox_of
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.settings import SandboxSettings

AUTH = {"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"}
WEBHOOK_URL = "http://receiver.test/hooks"


def decoded(response: httpx.Response) -> Any:
    """Decode like a careful client: numbers stay Decimal."""
    return json.loads(response.text, parse_float=Decimal)


def card_body(card: str = "4012000098765439", amount: str = "12.50", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": Decimal(amount),
        "currency": "USD",
        "paymentType": "CARD",
        "siteId": "site-1",
        "cardNumber": card,
        "cardExpireMonth": "12",
        "cardExpireYear": "2030",
        "cardSecurityCode": "999",
    }
    body.update(extra)
    return body


def encode(value: object) -> str:
    """JSON with every Decimal written verbatim, so `12.505` reaches the sandbox as `12.505`."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{encode(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(item) for item in value) + "]"
    return json.dumps(value)


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw, parse_float=Decimal)


@dataclass
class Receiver:
    """A merchant webhook endpoint that can fail or stall on demand."""

    fail_first: int = 0
    fail_status: int = 500
    delay: float = 0.0
    calls: int = 0
    received: list[ReceivedWebhook] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        self.calls += 1
        raw = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.calls <= self.fail_first:
            return Response("nope", status_code=self.fail_status)
        self.received.append(ReceivedWebhook(dict(request.headers), raw))
        return Response(status_code=200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.handle, methods=["POST"])])

    @property
    def events(self) -> list[str]:
        return [item.body["eventName"] for item in self.received]


class Harness:
    """One sandbox app with a client, its receiver and shortcuts for the calls tests repeat."""

    def __init__(self, settings: SandboxSettings, receiver: Receiver) -> None:
        self.receiver = receiver
        self.webhook_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()))
        self.app = create_app(settings, webhook_client=self.webhook_client)
        self.sandbox: Sandbox = sandbox_of(self.app)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://sandbox.test"
        )

    async def aclose(self) -> None:
        await self.sandbox.aclose()
        await self.client.aclose()
        await self.webhook_client.aclose()

    async def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.client.post(
            path, content=encode(body), headers={**AUTH, "content-type": "application/json", **headers}
        )

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=AUTH)

    async def sale(self, **fields: Any) -> httpx.Response:
        return await self.post("/sale", card_body(**fields))

    async def authorize(self, **fields: Any) -> httpx.Response:
        return await self.post("/authorize", card_body(**fields))

    async def drain(self) -> None:
        response = await self.client.post("/_sandbox/webhooks/drain", params={"timeout": 5})
        assert response.json() == {"drained": True, "pending": 0}

    async def ledger(self) -> list[dict[str, Any]]:
        response = await self.client.get("/_sandbox/transactions")
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def webhook_log(self) -> dict[str, Any]:
        response = await self.client.get("/_sandbox/webhooks")
        log: dict[str, Any] = response.json()
        return log

    async def knobs(self, **knobs: Any) -> httpx.Response:
        response = await self.client.put("/_sandbox/knobs", json=knobs)
        assert response.status_code == 200, response.text
        return response


MakeHarness = Callable[..., Awaitable[Harness]]
