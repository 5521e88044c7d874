"""NetValve's backoffice API (undocumented by NetValve; known from third-party code): the bearer token,
signed in with the basic-auth credentials and cached until shortly before it expires, and the HPF scripts
it lists."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field

from app.core.config import Settings
from app.gateway.answers import WireResponse
from app.gateway.codes import Outcome
from app.gateway.operations import Operation
from app.gateway.result import CallSpec, GatewayResult
from app.gateway.transport import Transport
from app.gateway.wire import WireRequest

# Refresh the backoffice bearer token this long before NetValve says it expires.
TOKEN_REFRESH_MARGIN_SECONDS: Final = 300.0
_SCRIPT_LIST_KEYS: Final = ("data", "content", "items", "scripts")


class BackofficeSignIn(WireRequest):
    user_name: str
    password: str = Field(repr=False)
    check_for_bot: str = "net"


def _lenient_datetime(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value
    try:
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            number = float(value)
            # Epoch milliseconds are common in Java backends; seconds would be centuries away.
            return datetime.fromtimestamp(number / 1000 if abs(number) > 1e11 else number, UTC)
        if isinstance(value, str):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _aware(value: datetime | None) -> datetime | None:
    # Naive and aware datetimes cannot be compared; NetValve's naive stamps are UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


ScriptDate = Annotated[datetime | None, BeforeValidator(_lenient_datetime), AfterValidator(_aware)]


class BackofficeScript(WireResponse):
    """One entry of ``GET {backoffice}/backoffice/hpf/script`` (undocumented by NetValve)."""

    id: int | str | None = None
    netvalve_script_src: str | None = Field(
        default=None, validation_alias=AliasChoices("netvalveScriptSrc", "scriptSrc", "netvalve_script_src")
    )
    integrity: str | None = None
    client_version: str | None = None
    status: str | None = None
    deleted: bool = False
    is_default: bool = False
    created_date: ScriptDate = None

    @property
    def usable(self) -> bool:
        src = urlsplit(self.netvalve_script_src or "")
        return (
            (self.status or "").upper() == "ACTIVE"
            and not self.deleted
            and (src.scheme == "https" and bool(src.netloc))
        )


class BackofficeToken(WireResponse):
    access_token: str = Field(
        repr=False, validation_alias=AliasChoices("accessToken", "access_token", "token")
    )
    expires_in: float = 3600.0


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pick_active_script(scripts: Sequence[BackofficeScript]) -> BackofficeScript | None:
    """ACTIVE, not deleted, https; the default one if any, else the newest ``createdDate``."""
    usable = [s for s in scripts if s.usable]
    if not usable:
        return None
    return max(usable, key=lambda s: (s.is_default, s.created_date or _EPOCH))


def _parse_scripts(body: Any) -> list[BackofficeScript]:
    items = body
    if isinstance(body, Mapping):
        items = next((body[k] for k in _SCRIPT_LIST_KEYS if isinstance(body.get(k), list)), None)
    if not isinstance(items, list):
        raise ValueError("expected a list of HPF scripts")
    scripts: list[BackofficeScript] = []
    for item in items:
        try:
            scripts.append(BackofficeScript.model_validate(item))
        except ValueError:
            # One malformed entry must not hide the usable ones.
            continue
    return scripts


class Backoffice:
    """The backoffice calls of one ``NetValveClient``, over its transport."""

    def __init__(self, transport: Transport, settings: Settings, clock: Callable[[], float]) -> None:
        self._transport = transport
        self._settings = settings
        self._clock = clock
        self._bo_token: str | None = None
        self._bo_refresh_at = 0.0
        self._bo_lock = asyncio.Lock()

    @property
    def token(self) -> str | None:
        """The cached bearer token, so that log text can be scrubbed of it."""
        return self._bo_token

    async def hpf_scripts(self) -> GatewayResult[list[BackofficeScript]]:
        """``GET /backoffice/hpf/script`` with a cached bearer token; one re-sign-in on a 401."""
        token = await self._backoffice_token()
        if isinstance(token, GatewayResult):
            return self._sign_in_failed(token)
        value, fresh = token
        result = await self._scripts(value)
        if result.http_status == 401 and not fresh:
            # The cached token was revoked early; a fresh one settles whether we are really refused.
            self._forget_token(value)
            token = await self._backoffice_token()
            if isinstance(token, GatewayResult):
                return self._sign_in_failed(token)
            result = await self._scripts(token[0])
        return result

    async def _scripts(self, token: str) -> GatewayResult[list[BackofficeScript]]:
        return await self._transport.call(
            CallSpec[list[BackofficeScript]](
                operation=Operation.BACKOFFICE_HPF_SCRIPTS,
                method="GET",
                url=self._settings.backoffice_api_url + "/backoffice/hpf/script",
                headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
                kind="plain",
                parse_details=_parse_scripts,
            )
        )

    async def _backoffice_token(self) -> tuple[str, bool] | GatewayResult[BackofficeToken]:
        """``(token, freshly signed in)``, or the failed sign-in."""
        async with self._bo_lock:
            if self._bo_token is not None and self._clock() < self._bo_refresh_at:
                return self._bo_token, False
            result = await self._sign_in()
            if result.outcome is not Outcome.APPROVED or result.details is None:
                return result
            self._bo_token = result.details.access_token
            lifetime = max(0.0, result.details.expires_in - TOKEN_REFRESH_MARGIN_SECONDS)
            self._bo_refresh_at = self._clock() + lifetime
            return self._bo_token, True

    def _forget_token(self, token: str) -> None:
        if self._bo_token == token:
            self._bo_token = None

    async def _sign_in(self) -> GatewayResult[BackofficeToken]:
        user = self._settings.netvalve_basic_auth_username
        password = self._settings.netvalve_basic_auth_password
        problem = None
        body = None
        if user and password:
            body = BackofficeSignIn(user_name=user, password=password.get_secret_value()).to_wire()
        else:
            problem = "backoffice credentials not configured: NETVALVE_BASIC_AUTH_USERNAME/PASSWORD"
        return await self._transport.call(
            CallSpec[BackofficeToken](
                operation=Operation.BACKOFFICE_SIGN_IN,
                method="POST",
                url=self._settings.backoffice_api_url + "/backoffice/users/sign-in",
                headers={"Accept": "application/json", "Content-Type": "application/json"},
                config_error=problem,
                body=body,
                kind="plain",
                parse_details=BackofficeToken.model_validate,
            )
        )

    @staticmethod
    def _sign_in_failed(result: GatewayResult[BackofficeToken]) -> GatewayResult[list[BackofficeScript]]:
        return GatewayResult[list[BackofficeScript]](
            outcome=result.outcome,
            operation=Operation.BACKOFFICE_HPF_SCRIPTS,
            http_status=result.http_status,
            code=result.code,
            message=f"backoffice sign-in failed: {result.message or result.outcome.value}",
            response=None,
            details=None,
            request_sent=result.request_sent,
            retry_after=result.retry_after,
            duration_ms=result.duration_ms,
            attempts=result.attempts,
        )
