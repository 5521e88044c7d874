"""CORS for the storefront routes only (``STORE_CORS``, Medusa's name and format), checked on the wire;
the browser's own refusal is in test_checkout_browser.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.core.config import ConfigurationError, load_settings
from app.main import create_app
from tests.conftest import SERVICE_KEY, make_settings, start_app

SHOP = "http://127.0.0.1:8082"
OTHER_SHOP = "https://shop.example.com"
STOREFRONT_ROUTES = [
    ("POST", "/api/v1/netvalve/hpf/session"),
    ("GET", "/api/v1/netvalve/hpf/session"),
    ("POST", "/api/v1/netvalve/payment"),
    ("GET", "/api/v1/netvalve/status"),
]
BACKEND_ROUTES = [
    ("POST", "/api/v1/netvalve/capture"),
    ("POST", "/api/v1/netvalve/refund"),
    ("POST", "/api/v1/netvalve/cancel"),
    ("POST", "/api/v1/netvalve/reconcile"),
    ("POST", "/api/v1/netvalve/webhook"),
]


@pytest.fixture
async def cors_client(db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(db, store_cors=f"{SHOP}, {OTHER_SHOP}/"))
    async for client in start_app(app):
        yield client


def _preflight(origin: str, method: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,x-publishable-api-key",
    }


@pytest.mark.parametrize(("method", "path"), STOREFRONT_ROUTES)
@pytest.mark.parametrize("origin", [SHOP, OTHER_SHOP])
async def test_storefront_routes_answer_preflights_for_listed_origins(
    cors_client: httpx.AsyncClient, method: str, path: str, origin: str
) -> None:
    response = await cors_client.options(path, headers=_preflight(origin, method))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "x-publishable-api-key" in allowed_headers
    assert method in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(("method", "path"), STOREFRONT_ROUTES)
async def test_an_unlisted_origin_gets_no_cors_headers(
    cors_client: httpx.AsyncClient, method: str, path: str
) -> None:
    preflight = await cors_client.options(path, headers=_preflight("https://evil.example", method))
    actual = await cors_client.request(method, path, headers={"Origin": "https://evil.example"})

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in actual.headers


async def test_storefront_answers_carry_the_header_even_when_refused(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.get("/api/v1/netvalve/status?cart_id=cart_1", headers={"Origin": SHOP})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize(("method", "path"), BACKEND_ROUTES)
async def test_backend_and_webhook_routes_never_answer_cors(
    cors_client: httpx.AsyncClient, method: str, path: str
) -> None:
    preflight = await cors_client.options(path, headers=_preflight(SHOP, method))
    actual = await cors_client.request(
        method, path, json={}, headers={"Origin": SHOP, "Authorization": f"Bearer {SERVICE_KEY}"}
    )

    assert preflight.status_code == 405
    assert not [name for name in preflight.headers if name.startswith("access-control-")]
    assert not [name for name in actual.headers if name.startswith("access-control-")]


async def test_without_store_cors_no_route_answers_cors(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/v1/netvalve/payment", headers=_preflight(SHOP, "POST"))

    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


def test_store_cors_is_medusas_comma_separated_origin_list() -> None:
    settings = load_settings(store_cors="http://localhost:8000, https://shop.example.com/ ,")

    assert settings.store_cors == ["http://localhost:8000", "https://shop.example.com"]


@pytest.mark.parametrize("value", ["shop.example.com", "https://shop.example.com/checkout", "ftp://shop"])
def test_store_cors_refuses_what_is_not_an_origin(value: str) -> None:
    with pytest.raises(ConfigurationError, match="STORE_CORS"):
        load_settings(store_cors=value)


def test_production_refuses_a_wildcard_store_cors() -> None:
    production = {
        "app_env": "production",
        "netvalve_api_key": "live-api-key-0123456789",
        "service_api_keys": "live-service-key-0123456789",
        "netvalve_client_id": "live-client",
        "netvalve_webhook_auth_header": "x-netvalve-webhook",
        "netvalve_webhook_auth_values": "live-webhook-secret-0123456789",
        "log_format": "json",
        "trusted_proxies": "none",
    }
    assert load_settings(**production, store_cors=SHOP).store_cors == [SHOP]
    with pytest.raises(ConfigurationError, match=r"STORE_CORS: '\*' is not allowed in production"):
        load_settings(**production, store_cors="*")
    assert load_settings(store_cors="*").store_cors == ["*"]
