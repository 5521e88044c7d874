"""Helpers for the webhook tests: documented bodies, a host-routing transport, a Medusa receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Same values as tests/conftest.py's make_settings.
WEBHOOK_HEADER = "x-netvalve-webhook"
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
SERVICE_KEY = "test-service-key-0123456789"
MEDUSA_URL = "http://medusa.test/hooks/payment/netvalve"
MEDUSA_SECRET = "medusa-webhook-secret-0123456789"
WEBHOOK_PATH = "/api/v1/netvalve/webhook"

EVENT_NAMES = [
    "AUTHORISED",
    "PURCHASED",
    "CAPTURED",
    "CANCELLED",
    "REFUNDED",
    "REBILLED",
    "AUTHORISATION_FAILED",
    "PURCHASE_FAILED",
    "CAPTURE_FAILED",
    "CANCELLATION_FAILED",
    "REFUND_FAILED",
    "REBIL_FAILED",
    "AUTHORISATION_PENDING",
    "PURCHASE_PENDING",
    "CAPTURE_PENDING",
    "REBILL_PENDING",
    "REFUND_PENDING",
    "CANCELLATION_PENDING",
    "CHARGEBACK",
]


def auth_headers(value: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {WEBHOOK_HEADER: value, "content-type": "application/json"}


async def post_event(client: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    return await client.post(WEBHOOK_PATH, content=content, headers=auth_headers() | headers)


class HostRouter(httpx.AsyncBaseTransport):
    """One client for the service's outbound calls: each host goes to its own in-process app."""

    def __init__(self, routes: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = routes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        return await transport.handle_async_request(request)


@dataclass
class MedusaReceiver:
    """Stands in for Medusa's webhook listener; checks the signature, can fail on demand."""

    fail_first: int = 0
    calls: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    async def handle(self, request: Request) -> Response:
        self.calls += 1
        raw = await request.body()
        if self.calls <= self.fail_first:
            return Response("temporarily broken", status_code=503)
        timestamp = request.headers.get("x-netvalve-timestamp", "")
        expected = hmac.new(
            MEDUSA_SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-netvalve-signature", ""), f"sha256={expected}"):
            self.bad_signatures += 1
            return Response("bad signature", status_code=401)
        self.received.append(json.loads(raw))
        return Response("ok", status_code=200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks/payment/netvalve", self.handle, methods=["POST"])])


def card_body(client_order_id: str, amount: str = "12.50", currency: str = "EUR") -> dict[str, Any]:
    return {
        "amount": float(amount),
        "currency": currency,
        "paymentType": "CARD",
        "siteId": "site-1",
        "cardNumber": "4012000098765439",
        "cardExpireMonth": "12",
        "cardExpireYear": "2030",
        "cardSecurityCode": "999",
        "clientOrderId": client_order_id,
    }
