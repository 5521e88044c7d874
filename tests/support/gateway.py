"""Shared helpers of the gateway tests: hermetic settings, fake clock and sleep, NetValve bodies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from app.core.config import Settings, load_settings
from app.gateway import SaleRequest, encode_json

API_KEY = "nv-test-api-key-5f1e2d3c4b5a"
CLIENT_ID = "AAAA-BBB-CCCCC-DDDD-EEEE"
EUR_MID = "289e253d-f955-4e29-a2c7-bb1805883ee0"
SITE_ID = "0b81bdb1-7c1e-4c55-a1d2-9e6f3a2b1c00"
PAYMENT_URL = "https://nv.test"
HPP_URL = "https://hpp.nv.test"
BACKOFFICE_URL = "https://bo.nv.test"
BO_USER = "backoffice-user"
BO_PASSWORD = "backoffice-password-0123"
PAYMENT_TOKEN = "735be51c-350a-4d91-af8a-f26300804a9b"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJORVRWQUxWRSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "app_env": "test",
        "netvalve_api_key": API_KEY,
        "netvalve_client_id": CLIENT_ID,
        "netvalve_payment_api_url": PAYMENT_URL,
        "netvalve_hpp_base_url": HPP_URL,
        "netvalve_backoffice_api_url": BACKOFFICE_URL,
        "netvalve_mid_id_eur": EUR_MID,
        "netvalve_site_id": SITE_ID,
        "netvalve_basic_auth_username": BO_USER,
        "netvalve_basic_auth_password": BO_PASSWORD,
        "netvalve_max_retries": 2,
        "netvalve_retry_backoff_seconds": 0.2,
        "netvalve_retry_backoff_max_seconds": 2.0,
        "netvalve_circuit_failure_threshold": 3,
        "netvalve_circuit_cooldown_seconds": 30.0,
    }
    values.update(overrides)
    return load_settings(**values)


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """Records every delay and moves the fake clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.clock.advance(delay)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """A NetValve-like answer; amounts (Decimal) are written as exact JSON numbers."""
    return httpx.Response(
        status,
        content=encode_json(payload),
        headers={"content-type": "application/json", **(headers or {})},
    )


def approved_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "traceID": "267d8adf-6b0f-4c1a-9d7e-1a2b3c4d5e6f",
        "responseTimestamp": "2024-11-26T04:09:49.657+00:00",
        "transactionID": 1001,
        "orderId": 501,
        "responseCode": "GTW_1000",
        "responseMessage": "Transaction Approved/ Request Successful.",
        "responseCodeType": "APPROVED",
        "paymentMethod": "CARD",
        "cardNumber": "401200******5439",
        "cardType": "VISA",
        "bankTransactionId": "432604500812",
        "authCode": "TAS639",
        "netvalveMidId": EUR_MID,
    }
    body.update(extra)
    return body


def declined_body(code: str, code_type: str, message: str = "Declined", **extra: Any) -> dict[str, Any]:
    return approved_body(responseCode=code, responseCodeType=code_type, responseMessage=message, **extra)


def sale_request(**overrides: Any) -> SaleRequest:
    values: dict[str, Any] = {
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "payment_type": "CARD",
        "payment_token": PAYMENT_TOKEN,
        "netvalve_mid_id": EUR_MID,
        "client_order_id": "cart_01JABC_1732594189657",
    }
    values.update(overrides)
    return SaleRequest(**values)
