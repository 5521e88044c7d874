"""Settings of a deployment profile that the service accepts at start (secrets are test values)."""

from __future__ import annotations

from typing import Any

# APP_ENV=production with everything it requires set.
PRODUCTION: dict[str, Any] = {
    "app_env": "production",
    "netvalve_environment": "production",
    "netvalve_api_key": "live-netvalve-api-key-0123",
    "netvalve_client_id": "client-0123",
    "netvalve_payment_api_url": "https://netvalve.test",
    "netvalve_hpp_base_url": "https://netvalve.test",
    "netvalve_backoffice_api_url": "https://netvalve.test",
    "medusa_webhook_url": "https://medusa.test/hooks/netvalve",
    "medusa_webhook_secret": "medusa-webhook-secret-0123",
    "trusted_proxies": "10.0.0.0/8",
    "log_format": "json",
}
