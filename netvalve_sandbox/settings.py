"""Sandbox settings, read from `SANDBOX_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from netvalve_sandbox.faults import Knobs


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8081
    public_url: str = "http://127.0.0.1:8081"

    client_id: str = "sandbox-client"
    api_key: SecretStr = SecretStr("sandbox-api-key")
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    backoffice_user: str = "sandbox-backoffice"
    backoffice_password: SecretStr = SecretStr("sandbox-backoffice-password")
    backoffice_token_ttl_seconds: int = 3600

    mid_id: int = 1001
    netvalve_mid_id: str = "5f0c7a3e-2d4b-4c8e-9a61-0b7d3e2f4a10"
    jwt_secret: SecretStr = SecretStr("sandbox-hpf-jwt-secret")
    hpf_token_ttl_seconds: float = Field(default=300, gt=0)
    pending_settle_seconds: float = Field(default=1.0, ge=0)
    timeout_seconds: float = Field(default=30.0, ge=0)
    # Issuers release an authorization after 5 to 30 days (netvalve-api.md §5.4); a capture after this
    # lifetime is declined BNK_2001 "Amount No Longer Available.".
    authorization_lifetime_days: float = Field(default=10.0, gt=0)

    webhook_url: str | None = None
    webhook_header_name: str = "x-netvalve-webhook"
    webhook_header_value: SecretStr = SecretStr("sandbox-webhook-secret")
    webhook_instant_retries: int = Field(default=3, ge=0)
    webhook_retry_schedule: list[float] = Field(default_factory=lambda: [0.5, 1.0, 2.0])
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    latency_ms: float = Field(default=0, ge=0)
    error_rate: float = Field(default=0, ge=0, le=1)
    fault: str | None = None
    fault_paths: list[str] = Field(default_factory=list)
    fault_after_commit: bool | None = None
    duplicate_webhooks: bool = False
    out_of_order_webhooks: bool = False
    webhooks_enabled: bool = True
    seed: int = 1234
    sales_without_tokens: bool = False

    @property
    def basic_auth_enabled(self) -> bool:
        return bool(self.basic_auth_user and self.basic_auth_password)

    def default_knobs(self) -> Knobs:
        return Knobs.model_validate({name: getattr(self, name) for name in Knobs.model_fields})
