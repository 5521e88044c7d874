"""Settings: bad configuration stops the start and names the variable; secrets never print."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import ConfigurationError, load_settings
from app.core.logging import ConsoleFormatter, JsonFormatter
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"app_env": "production", "service_api_keys": "k" * 20}, "NETVALVE_API_KEY"),
        ({"netvalve_base_url": "not-a-url"}, "NETVALVE_BASE_URL"),
        ({"netvalve_read_timeout_seconds": "soon"}, "NETVALVE_READ_TIMEOUT_SECONDS"),
        ({"database_url": "mysql://x/y"}, "DATABASE_URL"),
        # One action or none: an authorization near expiry is never both captured and voided.
        ({"authorization_near_expiry_action": "capture,void"}, "AUTHORIZATION_NEAR_EXPIRY_ACTION"),
        ({"authorization_near_expiry_days": "0"}, "AUTHORIZATION_NEAR_EXPIRY_DAYS"),
        (
            {"app_env": "production", "netvalve_api_key": "change-me", "service_api_keys": "k" * 20},
            "NETVALVE_API_KEY",
        ),
        (
            {
                "app_env": "production",
                "netvalve_api_key": "a-real-looking-key-123",
                "service_api_keys": "k" * 20,
                "storefront_auth": "none",
            },
            "STOREFRONT_AUTH",
        ),
    ],
)
def test_bad_configuration_names_the_variable(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(**overrides)


def test_service_refuses_to_start_in_production_without_an_api_key() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from app.main import app"],
        cwd=ROOT,
        env={"APP_ENV": "production", "SERVICE_API_KEYS": "x" * 24, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "NETVALVE_API_KEY" in result.stderr


def test_url_resolution_order() -> None:
    explicit = load_settings(
        netvalve_payment_api_url="https://a.example", netvalve_base_url="https://b.example"
    )
    assert explicit.payment_api_url == "https://a.example"
    assert load_settings(netvalve_base_url="https://b.example/").payment_api_url == "https://b.example"
    assert load_settings(netvalve_environment="sandbox").payment_api_url.startswith(
        "https://payment-api.uat."
    )
    assert load_settings(netvalve_environment="production").payment_api_url == "https://api.netvalve.com"


def test_secrets_do_not_appear_in_repr_or_logs() -> None:
    settings = load_settings(
        netvalve_api_key="live-api-key-123456",
        service_api_keys="svc-key-abcdef,svc-key-ghijkl",
        database_url="postgresql://user:db-password-xyz@db/app",
        medusa_webhook_secret="hook-secret-987654",
    )
    text = repr(settings) + str(settings)
    for secret in ("live-api-key-123456", "svc-key-abcdef", "db-password-xyz", "hook-secret-987654"):
        assert secret not in text
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "calling with Bearer abc.def.ghi", None, None)
    record.headers = {"netvalve-api-key": "live-api-key-123456", "accept": "json"}
    line = JsonFormatter().format(record)
    assert "live-api-key-123456" not in line
    assert "abc.def.ghi" not in line
    assert '"accept": "json"' in line


def test_log_lines_mask_tokens_keys_and_card_numbers_but_keep_a_masked_pan() -> None:
    record = logging.LogRecord(
        "t",
        logging.INFO,
        __file__,
        1,
        "script at https://nv.test/hpf.js?paymentToken=tok-777&v=2",
        None,
        None,
    )
    record.request_headers = {"Idempotency-Key": "idem-555", "x-publishable-api-key": "pk_live_444"}
    record.body = {"payment_token": "tok-888", "cardNumber": "4012000098765439", "card": "401200******5439"}
    for line in (JsonFormatter().format(record), ConsoleFormatter().format(record)):
        for leaked in ("tok-777", "idem-555", "pk_live_444", "tok-888", "4012000098765439"):
            assert leaked not in line
        assert "401200******5439" in line
        assert "v=2" in line


def test_extra_currency_mids_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETVALVE_MID_ID_AUD", "aud-mid")
    settings = load_settings(netvalve_mid_id_eur="eur-mid")
    assert settings.mid_for("aud") == "aud-mid"
    assert settings.mid_for("EUR") == "eur-mid"
    assert settings.mid_for("gbp") is None


def test_extra_currency_mids_come_from_the_env_file_under_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("NETVALVE_MID_ID_AUD=aud-from-file\nNETVALVE_MID_ID_CAD=cad-from-file\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NETVALVE_MID_ID_CAD", "cad-from-env")
    settings = load_settings()
    assert settings.mid_for("aud") == "aud-from-file"
    assert settings.mid_for("CAD") == "cad-from-env"
