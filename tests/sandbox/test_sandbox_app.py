from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from netvalve_sandbox import main
from netvalve_sandbox.settings import SandboxSettings
from tests.support.sandbox import Harness


def test_settings_read_the_sandbox_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_API_KEY", "other-key")
    monkeypatch.setenv("SANDBOX_WEBHOOK_RETRY_SCHEDULE", "[0.1, 0.2]")
    monkeypatch.setenv("SANDBOX_DUPLICATE_WEBHOOKS", "true")

    settings = SandboxSettings()

    assert settings.api_key.get_secret_value() == "other-key"
    assert settings.webhook_retry_schedule == [0.1, 0.2]
    assert settings.default_knobs().duplicate_webhooks is True
    assert (settings.host, settings.port, settings.client_id) == ("127.0.0.1", 8081, "sandbox-client")


def test_run_serves_on_the_configured_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setenv("SANDBOX_PORT", "9090")
    monkeypatch.setattr(main.uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))

    main.run()

    [call] = calls
    assert isinstance(call["app"], FastAPI)
    assert (call["host"], call["port"]) == ("127.0.0.1", 9090)


def test_module_level_app_is_a_sandbox() -> None:
    assert main.sandbox_of(main.app).ledger.transactions == {}


async def test_tokenize_hook_allows_cross_origin_calls_from_the_storefront(sandbox: Harness) -> None:
    response = await sandbox.client.options(
        "/_sandbox/tokenize",
        headers={
            "origin": "http://shop.test",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
