"""APP_ENV=production: no map of the API, metrics behind the service key, a readiness answer without details,
and a start refused for configuration that would be unsafe in front of the internet."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.fernet import Fernet

from app.core.config import ConfigurationError, load_settings
from app.main import create_app
from tests.conftest import SERVICE_KEY, make_settings, start_app
from tests.support.profiles import PRODUCTION


@pytest.fixture
async def production(db: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in start_app(create_app(make_settings(db, **PRODUCTION))):
        yield client


@pytest.fixture
async def development(db: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in start_app(create_app(make_settings(db))):
        yield client


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_production_serves_no_schema_or_docs(
    production: httpx.AsyncClient, development: httpx.AsyncClient, path: str
) -> None:
    assert (await production.get(path)).status_code == 404
    if path in ("/openapi.json", "/docs"):
        assert (await development.get(path)).status_code == 200


async def test_production_metrics_need_the_service_key(
    production: httpx.AsyncClient, development: httpx.AsyncClient
) -> None:
    assert (await production.get("/metrics")).status_code == 401
    wrong = await production.get("/metrics", headers={"Authorization": "Bearer not-the-key-0123456"})
    assert wrong.status_code == 403
    assert "netvalve" not in wrong.text
    allowed = await production.get("/metrics", headers={"Authorization": f"Bearer {SERVICE_KEY}"})
    assert allowed.status_code == 200
    assert "# TYPE" in allowed.text
    assert (await development.get("/metrics")).status_code == 200


async def test_production_readiness_has_no_details(
    production: httpx.AsyncClient, development: httpx.AsyncClient
) -> None:
    response = await production.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}
    assert "checks" in (await development.get("/ready")).json()


async def test_production_not_ready_answer_has_no_details(db: str) -> None:
    app = create_app(make_settings(db, **PRODUCTION))
    async for client in start_app(app):
        await app.state.medusa_pool.close()
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "not_ready"
        assert response.json()["error"]["details"] is None
        assert "medusa" not in response.text.lower()


def test_the_production_profile_itself_is_accepted() -> None:
    settings = load_settings(**{**PRODUCTION, "service_api_keys": SERVICE_KEY}, **_webhook_auth())
    assert settings.is_production


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"log_level": "DEBUG"}, "LOG_LEVEL"),
        ({"netvalve_client_id": ""}, "NETVALVE_CLIENT_ID"),
        ({"netvalve_webhook_auth_header": ""}, "NETVALVE_WEBHOOK_AUTH_HEADER"),
        ({"netvalve_webhook_auth_values": ""}, "NETVALVE_WEBHOOK_AUTH_VALUES"),
        ({"netvalve_payment_api_url": "http://netvalve.test"}, "NETVALVE_PAYMENT_API_URL"),
        ({"netvalve_hpp_base_url": "http://netvalve.test"}, "NETVALVE_HPP_BASE_URL"),
        ({"netvalve_backoffice_api_url": "http://netvalve.test"}, "NETVALVE_BACKOFFICE_API_URL"),
        ({"netvalve_hpp_order_host": "http://hpp.test"}, "NETVALVE_HPP_ORDER_HOST"),
        ({"netvalve_hpf_script_src": "http://cdn.test/hpf.js"}, "NETVALVE_HPF_SCRIPT_SRC"),
        ({"medusa_webhook_url": "http://medusa.test/hooks/netvalve"}, "MEDUSA_WEBHOOK_URL"),
        ({"log_format": "console"}, "LOG_FORMAT"),
        ({"trusted_proxies": ""}, "TRUSTED_PROXIES"),
    ],
)
def test_production_refuses_to_start_with(change: dict[str, str], variable: str) -> None:
    values = {**PRODUCTION, "service_api_keys": SERVICE_KEY, **_webhook_auth(), **change}
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(**values)
    # The same values are fine outside production: the refusal is the profile's.
    load_settings(**{**values, "app_env": "development"})


def _webhook_auth() -> dict[str, str]:
    return {
        "netvalve_webhook_auth_header": "x-netvalve-webhook",
        "netvalve_webhook_auth_values": "netvalve-webhook-secret-0123",
    }


@pytest.mark.parametrize("value", ["none", "NONE", " None "])
def test_trusted_proxies_none_says_that_no_proxy_is_in_front(value: str) -> None:
    values = {**PRODUCTION, "service_api_keys": SERVICE_KEY, **_webhook_auth(), "trusted_proxies": value}
    assert load_settings(**values).trusted_proxies == []
    assert load_settings(**{**values, "app_env": "development"}).trusted_proxies == []


def test_trusted_proxies_cannot_mix_none_with_addresses() -> None:
    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES"):
        load_settings(trusted_proxies="none,10.0.0.0/8")


def test_production_refuses_saved_cards_without_an_encryption_key() -> None:
    values = {**PRODUCTION, "service_api_keys": SERVICE_KEY, **_webhook_auth(), "saved_cards_enabled": "true"}
    with pytest.raises(ConfigurationError, match="SAVED_CARDS_ENCRYPTION_KEYS"):
        load_settings(**values)
    load_settings(**{**values, "app_env": "development"})
    key = Fernet.generate_key().decode()
    assert load_settings(**values, saved_cards_encryption_keys=key).saved_cards_enabled


def test_saved_card_keys_must_be_fernet_keys() -> None:
    with pytest.raises(ConfigurationError, match="SAVED_CARDS_ENCRYPTION_KEYS"):
        load_settings(saved_cards_encryption_keys="not-a-fernet-key")
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = load_settings(saved_cards_encryption_keys=f"{first}, {second}")
    assert [key.get_secret_value() for key in settings.saved_cards_encryption_keys] == [first, second]
    assert first not in repr(settings)
