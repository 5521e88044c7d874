"""The parts ``Settings`` is built from: NetValve's default URLs, the choice enums and the field types that
read the environment's text (blank is unset, comma lists, origins, proxy CIDRs)."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_settings import NoDecode

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


def blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
OptionalHttpUrl = Annotated[HttpUrl | None, BeforeValidator(blank_to_none)]
OptionalStr = Annotated[str | None, BeforeValidator(blank_to_none)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(blank_to_none)]
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
