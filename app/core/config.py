"""Service configuration: one typed ``Settings`` read from the environment (and ``.env``)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from dotenv import dotenv_values
from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from app.core.netvalve_settings import NetValveSettings
from app.core.settings_types import (
    MID_ENV_PREFIX,
    PLACEHOLDER_SECRETS,
    AppEnv,
    CaptureMode,
    ConfigurationError,
    NearExpiryAction,
    NetworkList,
    NoProxies,
    OptionalHttpUrl,
    OptionalSecret,
    OptionalStr,
    OriginList,
    PositiveSeconds,
    PostgresUrl,
    ProxyList,
    SecretList,
    StorefrontAuth,
    ThreeDSMode,
    blank_to_none,
)

__all__ = [
    "MID_ENV_PREFIX",
    "CaptureMode",
    "ConfigurationError",
    "NearExpiryAction",
    "Settings",
    "StorefrontAuth",
    "ThreeDSMode",
    "get_settings",
    "load_settings",
]


class Settings(NetValveSettings):
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
    medusa_database_url: Annotated[PostgresUrl | None, BeforeValidator(blank_to_none)] = Field(
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
    # Saved cards (README, "Saved cards"): gateway tokens are encrypted at rest with the first key; every key
    # decrypts (rotation). A saved card is purged this many days after its expiry month or its deletion.
    saved_cards_enabled: bool = False
    saved_cards_encryption_keys: SecretList = Field(default_factory=list)
    saved_card_retention_days: Annotated[int, Field(ge=0)] = 0
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

    mid_ids: dict[str, str] = Field(default_factory=dict, exclude=True)

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
    def _saved_card_keys_are_fernet_keys(self) -> Settings:
        for key in self.saved_cards_encryption_keys:
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                raise ValueError("SAVED_CARDS_ENCRYPTION_KEYS: each key must be a Fernet key") from None
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
        if self.saved_cards_enabled and not self.saved_cards_encryption_keys:
            problems.append("SAVED_CARDS_ENCRYPTION_KEYS: required in production when SAVED_CARDS_ENABLED")
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
    def medusa_dsn(self) -> str:
        return _plain_postgres_dsn(self.medusa_database_url or self.database_url)

    @property
    def database_dsn(self) -> str:
        return _plain_postgres_dsn(self.database_url)

    @property
    def sqlalchemy_url(self) -> str:
        return "postgresql+asyncpg://" + self.database_dsn.split("://", 1)[1]

    @property
    def webhook_auth_configured(self) -> bool:
        return bool(self.netvalve_webhook_auth_header and self.netvalve_webhook_auth_values)

    def mid_for(self, currency: str) -> str | None:
        return self.mid_ids.get(currency.upper())


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
