"""NetValve's part of ``Settings``: credentials, merchant accounts, URLs, the hosted page and fields, and
the client's timeouts, retries and circuit breaker. Field names are the environment variable names,
lower-cased."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from app.core.settings_types import (
    PRODUCTION_BACKOFFICE_API_URL,
    PRODUCTION_HPP_API_URL,
    PRODUCTION_PAYMENT_API_URL,
    SANDBOX_BACKOFFICE_API_URL,
    SANDBOX_DEFAULT_HPF_SCRIPT_SRC,
    SANDBOX_HPP_API_URL,
    SANDBOX_PAYMENT_API_URL,
    CaptureMode,
    HttpUrl,
    NetValveEnvironment,
    OptionalHttpUrl,
    OptionalSecret,
    OptionalStr,
    PositiveSeconds,
    ThreeDSMode,
)


class NetValveSettings(BaseSettings):
    netvalve_api_key: OptionalSecret = None
    netvalve_client_id: OptionalStr = None
    netvalve_site_id: OptionalStr = None
    netvalve_mid_id_eur: OptionalStr = None
    netvalve_mid_id_usd: OptionalStr = None
    netvalve_mid_id_php: OptionalStr = None
    netvalve_mid_id_gbp: OptionalStr = None
    netvalve_environment: NetValveEnvironment = NetValveEnvironment.PRODUCTION
    netvalve_capture_mode: CaptureMode = CaptureMode.SALE
    netvalve_payment_auth: Literal["api_key", "basic"] = "api_key"
    # on: every card payment authenticates with 3-D Secure v2 before the sale (README, "3-D Secure").
    netvalve_threeds: ThreeDSMode = ThreeDSMode.OFF
    # NetValve's challenge window: an authentication still open after it has been abandoned.
    netvalve_threeds_window_seconds: PositiveSeconds = 600.0

    netvalve_base_url: OptionalHttpUrl = None
    netvalve_payment_api_url: OptionalHttpUrl = None
    netvalve_sandbox_base_url: HttpUrl = SANDBOX_PAYMENT_API_URL
    netvalve_production_base_url: HttpUrl = PRODUCTION_PAYMENT_API_URL
    netvalve_backoffice_api_url: OptionalHttpUrl = None

    netvalve_hpp_base_url: OptionalHttpUrl = None
    netvalve_sandbox_hpp_base_url: HttpUrl = SANDBOX_HPP_API_URL
    netvalve_production_hpp_base_url: HttpUrl = PRODUCTION_HPP_API_URL
    netvalve_hpp_direct_url: OptionalHttpUrl = None
    netvalve_hpp_fallback_enabled: bool = True
    netvalve_hpp_order_host: OptionalHttpUrl = None
    netvalve_hpp_order_path: str = "/hpp/order"
    netvalve_hpp_mode: Literal["SALE", "AUTHORIZATION"] = "SALE"
    netvalve_hpp_success_url: OptionalHttpUrl = None
    netvalve_hpp_cancel_url: OptionalHttpUrl = None
    netvalve_hpp_failed_url: OptionalHttpUrl = None
    netvalve_hpp_pending_url: OptionalHttpUrl = None
    netvalve_return_base_url: OptionalHttpUrl = None

    netvalve_hpf_script_src: OptionalHttpUrl = None
    netvalve_hpf_script_integrity: OptionalStr = None
    netvalve_hpf_script_fallback_src: OptionalHttpUrl = None

    netvalve_basic_auth_username: OptionalStr = None
    netvalve_basic_auth_password: OptionalSecret = None

    netvalve_connect_timeout_seconds: PositiveSeconds = 3.0
    netvalve_read_timeout_seconds: PositiveSeconds = 20.0
    netvalve_write_timeout_seconds: PositiveSeconds = 10.0
    netvalve_pool_timeout_seconds: PositiveSeconds = 5.0
    netvalve_max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    netvalve_retry_backoff_seconds: PositiveSeconds = 0.2
    netvalve_retry_backoff_max_seconds: PositiveSeconds = 2.0
    # How long NetValve's look-ups may lag behind its own writes: until a call is older than its worst case
    # (every timeout and retry above) plus this, "not found" is no proof that it was never sent.
    netvalve_lookup_lag_seconds: Annotated[float, Field(ge=0)] = 5.0
    netvalve_circuit_failure_threshold: Annotated[int, Field(ge=1)] = 5
    netvalve_circuit_cooldown_seconds: PositiveSeconds = 30.0
    netvalve_max_connections: Annotated[int, Field(ge=1)] = 100

    @field_validator("netvalve_hpp_order_path")
    @classmethod
    def _path_starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @property
    def is_sandbox(self) -> bool:
        return self.netvalve_environment is NetValveEnvironment.SANDBOX

    @property
    def payment_api_url(self) -> str:
        """Explicit override, then ``NETVALVE_BASE_URL``, then the environment's default."""
        if self.netvalve_payment_api_url:
            return self.netvalve_payment_api_url
        if self.netvalve_base_url:
            return self.netvalve_base_url
        if self.is_sandbox:
            return self.netvalve_sandbox_base_url
        return self.netvalve_production_base_url

    @property
    def hpp_api_url(self) -> str:
        if self.netvalve_hpp_base_url:
            return self.netvalve_hpp_base_url
        return (
            self.netvalve_sandbox_hpp_base_url if self.is_sandbox else self.netvalve_production_hpp_base_url
        )

    @property
    def hpp_order_url(self) -> str:
        return (self.netvalve_hpp_order_host or self.hpp_api_url) + self.netvalve_hpp_order_path

    @property
    def backoffice_api_url(self) -> str:
        if self.netvalve_backoffice_api_url:
            return self.netvalve_backoffice_api_url
        return SANDBOX_BACKOFFICE_API_URL if self.is_sandbox else PRODUCTION_BACKOFFICE_API_URL

    @property
    def hpf_fallback_script_src(self) -> str | None:
        if self.netvalve_hpf_script_fallback_src:
            return self.netvalve_hpf_script_fallback_src
        return SANDBOX_DEFAULT_HPF_SCRIPT_SRC if self.is_sandbox else None

    def hpp_return_url(self, outcome: Literal["success", "cancel", "failed", "pending"]) -> str | None:
        explicit: str | None = getattr(self, f"netvalve_hpp_{outcome}_url")
        if explicit:
            return explicit
        if self.netvalve_return_base_url:
            return f"{self.netvalve_return_base_url}/checkout/netvalve/{outcome}"
        return None
