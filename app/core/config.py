"""Service configuration: one typed ``Settings`` read from the environment (and ``.env``)."""

from __future__ import annotations

import ipaddress
import os
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SANDBOX_PAYMENT_API_URL = "https://payment-api.uat.sandbox-netvalve.com"
PRODUCTION_PAYMENT_API_URL = "https://api.netvalve.com"
SANDBOX_HPP_API_URL = "https://hpp-api.uat.sandbox-netvalve.com"
PRODUCTION_HPP_API_URL = "https://hpp-api.netvalve.com"
SANDBOX_BACKOFFICE_API_URL = "https://backoffice-api.uat.sandbox-netvalve.com"
PRODUCTION_BACKOFFICE_API_URL = "https://backoffice-api.netvalve.com"
SANDBOX_DEFAULT_HPF_SCRIPT_SRC = "https://tokenfield.uat.sandbox-netvalve.com/sdk/index.DUbZDKWj.js"

MID_ENV_PREFIX = "NETVALVE_MID_ID_"

# Values that are obviously copied from an example file; production refuses them.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "placeholder",
        "secret",
        "password",
        "xxx",
        "todo",
        "dev-service-key",
        "dev-webhook-secret",
        "sandbox-api-key",
        "sandbox-webhook-secret",
        "sandbox-backoffice-password",
    }
)


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable service; the message names the variable."""


class AppEnv(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class NetValveEnvironment(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"


class CaptureMode(StrEnum):
    SALE = "sale"
    AUTHORIZE = "authorize"


class ThreeDSMode(StrEnum):
    OFF = "off"
    ON = "on"


class NearExpiryAction(StrEnum):
    """What the service does with an authorization near expiry besides logging and counting it."""

    NONE = "none"
    CAPTURE = "capture"
    VOID = "void"


class StorefrontAuth(StrEnum):
    PUBLISHABLE_KEY = "publishable_key"
    NONE = "none"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value.rstrip("/")


def _postgres_url(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
        raise ValueError("must be a postgresql:// URL")
    return value


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _origin(value: str) -> str:
    if value == "*":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError(f"{value!r} is not an origin like https://shop.example.com or http://localhost:8000")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not an origin: it has a query or fragment")
    return f"{parts.scheme}://{parts.netloc}"


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
OptionalHttpUrl = Annotated[HttpUrl | None, BeforeValidator(_blank_to_none)]
OptionalStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_to_none)]
PostgresUrl = Annotated[str, AfterValidator(_postgres_url)]
SecretList = Annotated[list[SecretStr], NoDecode, BeforeValidator(_comma_list)]
NetworkList = Annotated[
    list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode, BeforeValidator(_comma_list)
]


class NoProxies(list[ipaddress.IPv4Network | ipaddress.IPv6Network]):
    """``TRUSTED_PROXIES=none``: the operator says that no proxy is in front (an empty list, meant)."""


def _trusted_proxies(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if isinstance(value, str) and value.strip().lower() == "none":
        return NoProxies()
    return handler(_comma_list(value))


# CIDRs, or "none" (declared: no proxy); production refuses it unset.
ProxyList = Annotated[
    list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode, WrapValidator(_trusted_proxies)
]
# Medusa's STORE_CORS format: comma-separated origins.
OriginList = Annotated[list[Annotated[str, AfterValidator(_origin)]], NoDecode, BeforeValidator(_comma_list)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """Every knob of the service. Field names are the environment variable names, lower-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    app_env: AppEnv = AppEnv.DEVELOPMENT
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    # repr=False: a database URL usually carries its password.
    database_url: PostgresUrl = Field(
        default="postgresql://netvalve:netvalve@127.0.0.1:5432/netvalve", repr=False
    )
    medusa_database_url: Annotated[PostgresUrl | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, repr=False
    )
    # Per process. Overflow connections are closed when returned, so a pool smaller than the load turns
    # every burst into new PostgreSQL connections (bench/results.md): size it for the steady state.
    db_pool_size: Annotated[int, Field(ge=1, le=200)] = 20
    db_max_overflow: Annotated[int, Field(ge=0, le=200)] = 5
    db_pool_timeout_seconds: PositiveSeconds = 10.0
    db_connect_timeout_seconds: PositiveSeconds = 5.0
    db_statement_timeout_ms: Annotated[int, Field(ge=0)] = 15_000
    db_statement_cache: bool = True
    # Off: a ping per checkout is a round trip on every transaction. A connection the server closed is
    # noticed on first use instead (the pool is then refreshed); turn it on behind proxies that drop idle
    # connections silently.
    db_pool_pre_ping: bool = False
    medusa_pool_min_size: Annotated[int, Field(ge=0, le=100)] = 1
    medusa_pool_max_size: Annotated[int, Field(ge=1, le=100)] = 10
    # A request waits this long for a Medusa connection, then is answered 503 medusa_busy: no unbounded queue.
    medusa_pool_acquire_timeout_seconds: PositiveSeconds = 5.0

    service_api_keys: SecretList = Field(default_factory=list)
    storefront_auth: StorefrontAuth = StorefrontAuth.PUBLISHABLE_KEY
    store_cors: OriginList = Field(default_factory=list)
    publishable_key_cache_seconds: Annotated[float, Field(ge=0)] = 60.0
    # Verdicts kept at most (least recently used go first); each entry is a hash and a few ids.
    publishable_key_cache_max_entries: Annotated[int, Field(ge=0)] = 10_000
    # Checked before anything parses the request: all header names and values together, and the body
    # (except the webhook's, which has WEBHOOK_MAX_BODY_BYTES).
    request_max_header_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024
    request_max_body_bytes: Annotated[int, Field(ge=1024)] = 32 * 1024
    # Card testing (README, "Hostile traffic"): payment attempts a cart and each of its payment sessions may
    # make, and storefront requests per window, counted in PostgreSQL so that every replica shares one count.
    # A limit of 0 is off. Service-key callers are not limited.
    payment_attempts_per_session: Annotated[int, Field(ge=1)] = 5
    payment_attempts_per_cart: Annotated[int, Field(ge=1)] = 10
    storefront_rate_limit_window_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    storefront_rate_limit_per_address: Annotated[int, Field(ge=0)] = 120
    storefront_rate_limit_per_key: Annotated[int, Field(ge=0)] = 6000
    storefront_payment_rate_limit_per_address: Annotated[int, Field(ge=0)] = 20
    # Publishable keys missing from the cache (each a Medusa query) per address and window.
    storefront_key_lookups_per_address: Annotated[int, Field(ge=0)] = 10
    # Declines answered per window across the storefront; past it card-sending requests are refused.
    storefront_decline_ceiling: Annotated[int, Field(ge=0)] = 100
    # Far below its limits a replica counts in memory and adds its hits to the shared count this often.
    storefront_rate_limit_flush_seconds: Annotated[float, Field(gt=0, le=10)] = 0.25
    # Production: /ready answers callers without a service key from a probe at most this old.
    ready_cache_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    # A storefront polling /status on an open payment makes the service ask NetValve at most once per payment
    # per this many seconds (over every replica); in between the ledger answers. 0 turns the throttle off.
    storefront_status_lookup_interval_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    idempotency_key_ttl_hours: Annotated[int, Field(ge=24)] = 24
    # A claimed key nobody answered within this time belongs to a request that died; a retry takes it over.
    idempotency_lease_seconds: PositiveSeconds = 120.0
    reconcile_interval_seconds: Annotated[float, Field(ge=0)] = 60.0
    # Retention: expired idempotency keys (IDEMPOTENCY_KEY_TTL_HOURS), settled webhook events and delivered
    # outbox rows are deleted by a background pass, a batch per short transaction.
    retention_interval_seconds: Annotated[float, Field(ge=0)] = 3600.0
    retention_batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    webhook_event_retention_days: Annotated[int, Field(ge=1)] = 30
    outbox_retention_days: Annotated[int, Field(ge=1)] = 30
    # Hours an HPF token's binding to its cart is kept after the token expired (NetValve's lives minutes).
    hpf_token_retention_hours: Annotated[int, Field(ge=1)] = 24
    reconcile_min_age_seconds: Annotated[float, Field(ge=0)] = 30.0
    # Authorizations that lapse (issuers release a hold after 5 to 30 days): one this many days old counts as
    # near expiry (logged, counted, shown on the service key's /status); the action, if any, captures or
    # voids it then. Checked every AUTHORIZATION_CHECK_INTERVAL_SECONDS (0 disables the check).
    authorization_near_expiry_days: Annotated[float, Field(gt=0, le=30)] = 7.0
    authorization_near_expiry_action: NearExpiryAction = NearExpiryAction.NONE
    authorization_check_interval_seconds: Annotated[float, Field(ge=0)] = 3600.0

    netvalve_webhook_auth_header: OptionalStr = None
    netvalve_webhook_auth_values: SecretList = Field(default_factory=list)
    netvalve_webhook_allowed_ips: NetworkList = Field(default_factory=list)
    trusted_proxies: ProxyList = Field(default_factory=list)
    webhook_max_body_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024
    webhook_worker_enabled: bool = True
    webhook_worker_poll_seconds: PositiveSeconds = 0.5
    webhook_retry_base_seconds: PositiveSeconds = 5.0
    webhook_retry_max_seconds: PositiveSeconds = 900.0
    webhook_give_up_after_seconds: PositiveSeconds = 72 * 3600.0

    medusa_webhook_url: OptionalHttpUrl = None
    medusa_webhook_secret: OptionalSecret = None
    medusa_webhook_timeout_seconds: PositiveSeconds = 5.0
    medusa_webhook_max_attempts: Annotated[int, Field(ge=1)] = 12

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

    mid_ids: dict[str, str] = Field(default_factory=dict, exclude=True)

    @field_validator("netvalve_hpp_order_path")
    @classmethod
    def _path_starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @model_validator(mode="after")
    def _collect_mids(self) -> Settings:
        # Currencies beyond the declared fields: the .env file first, the process environment over it,
        # the same precedence as every other setting.
        env_file = self.model_config.get("env_file")
        from_file = dotenv_values(env_file) if isinstance(env_file, str) and os.path.isfile(env_file) else {}
        mids: dict[str, str] = {}
        for source in (from_file, os.environ):
            for key, value in source.items():
                if key.upper().startswith(MID_ENV_PREFIX) and value and value.strip():
                    mids[key.upper().removeprefix(MID_ENV_PREFIX)] = value.strip()
        for currency in ("eur", "usd", "php", "gbp"):
            explicit = getattr(self, f"netvalve_mid_id_{currency}")
            if explicit:
                mids[currency.upper()] = explicit
        self.mid_ids = mids
        return self

    @model_validator(mode="after")
    def _production_is_complete(self) -> Settings:
        if self.app_env is not AppEnv.PRODUCTION:
            return self
        problems: list[str] = []
        if self.netvalve_api_key is None:
            problems.append("NETVALVE_API_KEY: required in production")
        secrets: dict[str, list[SecretStr]] = {
            "NETVALVE_API_KEY": [self.netvalve_api_key] if self.netvalve_api_key else [],
            "NETVALVE_BASIC_AUTH_PASSWORD": (
                [self.netvalve_basic_auth_password] if self.netvalve_basic_auth_password else []
            ),
            "MEDUSA_WEBHOOK_SECRET": [self.medusa_webhook_secret] if self.medusa_webhook_secret else [],
            "SERVICE_API_KEYS": self.service_api_keys,
            "NETVALVE_WEBHOOK_AUTH_VALUES": self.netvalve_webhook_auth_values,
        }
        for name, values in secrets.items():
            if any(_is_placeholder(v) for v in values):
                problems.append(f"{name}: placeholder or too short secret")
        if not self.service_api_keys:
            problems.append("SERVICE_API_KEYS: at least one key is required in production")
        if self.storefront_auth is StorefrontAuth.NONE:
            problems.append("STOREFRONT_AUTH: 'none' is not allowed in production")
        if "*" in self.store_cors:
            problems.append("STORE_CORS: '*' is not allowed in production; list the storefront origins")
        if self.medusa_webhook_url and self.medusa_webhook_secret is None:
            problems.append("MEDUSA_WEBHOOK_SECRET: required when MEDUSA_WEBHOOK_URL is set")
        if self.log_format != "json":
            problems.append(
                "LOG_FORMAT: json is required in production (a log line per object, nothing forged)"
            )
        if not self.trusted_proxies and not isinstance(self.trusted_proxies, NoProxies):
            problems.append("TRUSTED_PROXIES: required in production: the proxies' CIDRs, or 'none'")
        if self.log_level == "DEBUG":
            problems.append("LOG_LEVEL: DEBUG is not allowed in production (request details reach the logs)")
        if not self.netvalve_client_id:
            problems.append("NETVALVE_CLIENT_ID: required in production")
        if not self.netvalve_webhook_auth_header:
            problems.append("NETVALVE_WEBHOOK_AUTH_HEADER: required in production")
        if not self.netvalve_webhook_auth_values:
            problems.append("NETVALVE_WEBHOOK_AUTH_VALUES: required in production")
        problems.extend(
            f"{name}: must be an https:// URL in production"
            for name, url in self._outbound_urls().items()
            if url and urlsplit(url).scheme != "https"
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _outbound_urls(self) -> dict[str, str | None]:
        """Every URL the service calls or hands to a browser, by the variable that decides it."""
        return {
            "NETVALVE_PAYMENT_API_URL": self.payment_api_url,
            "NETVALVE_HPP_BASE_URL": self.hpp_api_url,
            "NETVALVE_HPP_ORDER_HOST": self.hpp_order_url,
            "NETVALVE_BACKOFFICE_API_URL": self.backoffice_api_url,
            "NETVALVE_HPP_DIRECT_URL": self.netvalve_hpp_direct_url,
            "NETVALVE_HPF_SCRIPT_SRC": self.netvalve_hpf_script_src,
            "NETVALVE_HPF_SCRIPT_FALLBACK_SRC": self.hpf_fallback_script_src,
            "MEDUSA_WEBHOOK_URL": self.medusa_webhook_url,
        }

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.PRODUCTION

    @property
    def is_sandbox(self) -> bool:
        return self.netvalve_environment is NetValveEnvironment.SANDBOX

    @property
    def medusa_dsn(self) -> str:
        return _plain_postgres_dsn(self.medusa_database_url or self.database_url)

    @property
    def database_dsn(self) -> str:
        return _plain_postgres_dsn(self.database_url)

    @property
    def sqlalchemy_url(self) -> str:
        return "postgresql+asyncpg://" + self.database_dsn.split("://", 1)[1]

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

    @property
    def webhook_auth_configured(self) -> bool:
        return bool(self.netvalve_webhook_auth_header and self.netvalve_webhook_auth_values)

    def mid_for(self, currency: str) -> str | None:
        return self.mid_ids.get(currency.upper())

    def hpp_return_url(self, outcome: Literal["success", "cancel", "failed", "pending"]) -> str | None:
        explicit: str | None = getattr(self, f"netvalve_hpp_{outcome}_url")
        if explicit:
            return explicit
        if self.netvalve_return_base_url:
            return f"{self.netvalve_return_base_url}/checkout/netvalve/{outcome}"
        return None


def _plain_postgres_dsn(url: str) -> str:
    scheme, rest = url.split("://", 1)
    del scheme
    return "postgresql://" + rest


def _is_placeholder(secret: SecretStr) -> bool:
    value = secret.get_secret_value().strip()
    return value.lower() in PLACEHOLDER_SECRETS or len(value) < 12


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation failures into one message that names each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            name = ".".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
            lines.append(f"{name}: {error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
