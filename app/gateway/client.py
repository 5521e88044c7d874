"""``NetValveClient``: every HTTP call to NetValve, with retries that cannot charge twice.

Retry rules (the reason this module exists):

* a call that failed before any byte reached NetValve (connect error, connect/pool timeout) is retried,
  mutating or not;
* read-only calls are also retried on 5xx, unusable bodies, 429 and timeouts after sending;
* a mutating call (sale, authorize, capture, refund, cancel, HPP order) that was sent is never re-sent:
  a lost answer is ``UNKNOWN`` and a 5xx/garbage answer is ``UNAVAILABLE`` with ``request_sent=True``;
  the caller must resolve both with ``inquiry``/``get_order`` before trying again.

A per-instance circuit breaker fails fast after repeated transport failures or unusable answers.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Final, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from prometheus_client import Counter, Histogram

from app.core.config import Settings
from app.core.redaction import redact, scrub, secret_values
from app.gateway.outcomes import (
    DECLINES,
    NO_ANSWER,
    NOTHING_HAPPENED,
    Outcome,
    Refusal,
    classify_plain,
    classify_response,
    refusal,
    success_codes_for,
)
from app.gateway.threeds import (
    ThreeDSAuthRequest,
    ThreeDSInitRequest,
    ThreeDSProviderResponse,
    ThreeDSResultRequest,
    parse_provider_response,
)
from app.gateway.wire import (
    BackofficeScript,
    BackofficeSignIn,
    BackofficeToken,
    CancelRequest,
    CaptureRequest,
    HpfSession,
    HppOrderRequest,
    OrderDetails,
    RefundRequest,
    SaleRequest,
    TransactionDetails,
    TransactionResponse,
    WireRequest,
    decode_json,
    pick_active_script,
)

logger = logging.getLogger(__name__)

REQUESTS_TOTAL: Final = Counter(
    "netvalve_gateway_requests_total",
    "NetValve gateway calls by operation and outcome (one per call, retries included).",
    ("operation", "outcome"),
)
REQUEST_SECONDS: Final = Histogram(
    "netvalve_gateway_request_seconds",
    "Duration of a NetValve gateway call, retries and backoff included.",
    ("operation",),
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0),
)

# Refresh the backoffice bearer token this long before NetValve says it expires.
TOKEN_REFRESH_MARGIN_SECONDS: Final = 300.0


class Operation(StrEnum):
    INITIALIZE_HPF_SESSION = "initialize_hpf_session"
    SALE = "sale"
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    REFUND = "refund"
    CANCEL = "cancel"
    INQUIRY = "inquiry"
    GET_TRANSACTION = "get_transaction"
    GET_ORDER = "get_order"
    CREATE_HPP_ORDER = "create_hpp_order"
    BACKOFFICE_SIGN_IN = "backoffice_sign_in"
    BACKOFFICE_HPF_SCRIPTS = "backoffice_hpf_scripts"
    THREEDS_INITIALIZE = "threeds_initialize"
    THREEDS_AUTHENTICATE = "threeds_authenticate"
    THREEDS_RESULT = "threeds_result"


# Calls that may move money or create state at NetValve: never re-sent once sent.
MUTATING_OPERATIONS: Final = frozenset(
    {
        Operation.SALE,
        Operation.AUTHORIZE,
        Operation.CAPTURE,
        Operation.REFUND,
        Operation.CANCEL,
        Operation.CREATE_HPP_ORDER,
    }
)

_INFO_OUTCOMES: Final = frozenset(
    {
        Outcome.APPROVED,
        Outcome.PENDING,
        Outcome.SOFT_DECLINE,
        Outcome.HARD_DECLINE,
        Outcome.ALREADY_CAPTURED,
        Outcome.ALREADY_REFUNDED,
        Outcome.ALREADY_CANCELLED,
        Outcome.DUPLICATE_ORDER,
        Outcome.NOT_FOUND,
    }
)
_ERROR_OUTCOMES: Final = frozenset({Outcome.AUTH_ERROR, Outcome.MISMATCH})


class MerchantNotConfigured(LookupError):
    """Neither a per-currency MID nor a site id is configured for ``currency``."""

    def __init__(self, currency: str) -> None:
        self.currency = currency.strip().upper()
        super().__init__(
            f"no NetValve merchant account for {self.currency}: "
            f"set NETVALVE_MID_ID_{self.currency} or NETVALVE_SITE_ID"
        )


def mid_fields(settings: Settings, currency: str) -> dict[str, str | int]:
    """Exactly one routing field for ``currency``: its MID if configured, else ``siteId``.

    A UUID-like MID goes out as ``netvalveMidId``, an all-digit one as the int ``midId``. Never
    both a MID and ``siteId``: NetValve would silently turn smart routing off.
    """
    mid = (settings.mid_for(currency) or "").strip()
    if mid:
        return {"midId": int(mid)} if mid.isdigit() else {"netvalveMidId": mid}
    if settings.netvalve_site_id:
        return {"siteId": settings.netvalve_site_id}
    raise MerchantNotConfigured(currency)


D = TypeVar("D")


@dataclass(frozen=True)
class GatewayResult(Generic[D]):
    """What one client call produced. Gateway outcomes are values here, never exceptions.

    * ``request_sent`` is False only when no byte reached NetValve (connect error, circuit open,
      pool timeout, missing credentials): then nothing can have happened there.
    * For a mutating call, ``UNKNOWN`` and ``UNAVAILABLE`` with ``request_sent=True`` mean NetValve
      may have acted (``is_uncertain``): look the transaction up before any new attempt.
    * ``MISMATCH`` is an approval of a different amount or currency than was sent: not a success.
    * ``response`` is the parsed ``TransactionResponse`` of envelope calls; ``details`` is the
      lookup payload (``HpfSession``, ``TransactionDetails``, ``OrderDetails``, backoffice scripts).
    * For ``inquiry`` the outcome is the transaction's own result; for ``get_transaction`` and
      ``get_order`` APPROVED means "found", and the transaction state is in ``details``.
    """

    outcome: Outcome
    operation: Operation
    http_status: int | None
    code: str | None
    message: str | None
    response: TransactionResponse | None
    details: D | None
    request_sent: bool
    retry_after: float | None
    duration_ms: float
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.APPROVED

    @property
    def is_uncertain(self) -> bool:
        return self.request_sent and self.outcome in (Outcome.UNKNOWN, Outcome.UNAVAILABLE)

    @property
    def transaction_id(self) -> int | None:
        return self.response.transaction_id if self.response is not None else None

    @property
    def declined(self) -> bool:
        return self.outcome in DECLINES

    @property
    def nothing_happened(self) -> bool:
        """NetValve certainly did nothing: the request never left, or it was refused as it stood."""
        return not self.request_sent or self.outcome in NOTHING_HAPPENED

    @property
    def answered(self) -> bool:
        """A read-only look-up got an answer that can settle something."""
        return self.request_sent and self.outcome not in NO_ANSWER

    @property
    def refusal(self) -> Refusal | None:
        return refusal(self.outcome, self.code, self.message)


BreakerVerdict = Literal["success", "failure", "neutral"]


class CircuitBreaker:
    """Consecutive-failure breaker: closed -> open (fail fast) -> half-open (one probe) -> closed."""

    def __init__(self, threshold: int, cooldown_seconds: float, clock: Callable[[], float]) -> None:
        self._threshold = threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self.failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self._cooldown:
            return "half_open"
        return "open"

    def retry_in(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self._clock())

    def allow(self) -> bool:
        """May a request go out now? After the cooldown exactly one caller gets to probe."""
        if self._opened_at is None:
            return True
        if self._probing or self._clock() - self._opened_at < self._cooldown:
            return False
        self._probing = True
        return True

    def record(self, verdict: BreakerVerdict) -> None:
        if verdict == "success":
            self.failures = 0
            self._opened_at = None
        elif verdict == "failure":
            self.failures += 1
            if self.failures >= self._threshold:
                self._opened_at = self._clock()
        self._probing = False

    def release(self) -> None:
        """Give the probe slot back when a probing call ended without a verdict (cancelled)."""
        self._probing = False

    def open_message(self) -> str:
        return (
            f"circuit open: NetValve failed {self.failures} times in a row, "
            f"retrying after {self.retry_in():.1f}s"
        )


BodyKind = Literal["envelope", "details", "plain"]


@dataclass(frozen=True)
class _Request(Generic[D]):
    operation: Operation
    method: Literal["GET", "POST"]
    url: str
    headers: Mapping[str, str]
    config_error: str | None = None
    body: bytes | None = None
    params: Mapping[str, str] | None = None
    reference: int | str | None = None
    kind: BodyKind = "envelope"
    parse_details: Callable[[Any], D] | None = None
    identity_keys: frozenset[str] = frozenset()
    expect_amount: Decimal | None = None
    expect_currency: str | None = None
    secrets: tuple[str, ...] = ()

    @property
    def mutating(self) -> bool:
        return self.operation in MUTATING_OPERATIONS


@dataclass(frozen=True)
class _Attempt(Generic[D]):
    outcome: Outcome
    sent: bool
    breaker: BreakerVerdict
    retryable: bool
    http_status: int | None = None
    code: str | None = None
    message: str | None = None
    response: TransactionResponse | None = None
    details: D | None = None
    retry_after: float | None = None


# Raised before the request left this process: safe to retry any call.
_NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Our own mistake (bad URL scheme, malformed request): retrying cannot help.
_LOCAL_ERRORS: Final = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)

_SCRIPT_LIST_KEYS: Final = ("data", "content", "items", "scripts")
_TRANSACTION_IDENTITY: Final = frozenset({"netvalveID", "netvalveId", "id"})
_ORDER_IDENTITY: Final = frozenset({"id", "transactions", "orderAmount", "orderState", "hppOrderStatus"})


def worst_case_call_seconds(settings: Settings) -> float:
    """The longest one call can take from the first try to the last byte: every attempt waiting on the
    pool, connect, write and read timeouts, and the longest backoff between attempts. Past this, a request
    is no longer on its way to NetValve, so a look-up that finds nothing means it never arrived."""
    attempt = (
        settings.netvalve_pool_timeout_seconds
        + settings.netvalve_connect_timeout_seconds
        + settings.netvalve_write_timeout_seconds
        + settings.netvalve_read_timeout_seconds
    )
    retries = settings.netvalve_max_retries
    return attempt * (retries + 1) + settings.netvalve_retry_backoff_max_seconds * retries


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one AsyncClient the app shares for NetValve; timeouts and pool size come from settings."""
    timeout = httpx.Timeout(
        connect=settings.netvalve_connect_timeout_seconds,
        read=settings.netvalve_read_timeout_seconds,
        write=settings.netvalve_write_timeout_seconds,
        pool=settings.netvalve_pool_timeout_seconds,
    )
    limits = httpx.Limits(
        max_connections=settings.netvalve_max_connections,
        max_keepalive_connections=settings.netvalve_max_connections,
    )
    # A redirect on a payment POST would be a misconfiguration; surface it rather than follow it.
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _decode_body(response: httpx.Response) -> Any:
    """Decoded JSON, or None for an empty, HTML/XML or malformed body."""
    raw = response.content
    if not raw.strip():
        return None
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type or "xml" in content_type:
        return None
    try:
        return decode_json(raw)
    except (ValueError, RecursionError):
        return None


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


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


def _mismatch(req: _Request[Any], response: TransactionResponse) -> str | None:
    if req.expect_amount is not None and response.amount is not None and response.amount != req.expect_amount:
        return f"NetValve approved amount {response.amount} but {req.expect_amount} was sent"
    if (
        req.expect_currency is not None
        and response.currency is not None
        and response.currency.strip().upper() != req.expect_currency.upper()
    ):
        return f"NetValve approved currency {response.currency} but {req.expect_currency} was sent"
    return None


class NetValveClient:
    """The only code that knows NetValve's URLs, headers and response codes.

    Built over the app's shared ``httpx.AsyncClient`` (see ``build_http_client``). ``sleep``,
    ``clock`` (monotonic seconds) and ``rng`` (uniform [0, 1)) are injectable for tests.
    """

    pick_active_script = staticmethod(pick_active_script)

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._http = http
        self._settings = settings
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self.circuit = CircuitBreaker(
            settings.netvalve_circuit_failure_threshold,
            settings.netvalve_circuit_cooldown_seconds,
            clock,
        )
        self._bo_token: str | None = None
        self._bo_refresh_at = 0.0
        self._bo_lock = asyncio.Lock()

    # --- payment API ---------------------------------------------------------------------------

    async def initialize_hpf_session(self) -> GatewayResult[HpfSession]:
        """``GET /hpf/initializeSession``: script URL, integrity and tokens for Token Fields."""
        headers, problem = self._payment_headers(json_body=False)
        return await self._call(
            _Request[HpfSession](
                operation=Operation.INITIALIZE_HPF_SESSION,
                method="GET",
                url=self._payment_url("/hpf/initializeSession"),
                headers=headers,
                config_error=problem,
                parse_details=HpfSession.model_validate,
            )
        )

    async def sale(self, req: SaleRequest) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.SALE, self._payment_url("/sale"), req, amount=req.amount, currency=req.currency
        )

    async def authorize(self, req: SaleRequest) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.AUTHORIZE,
            self._payment_url("/authorize"),
            req,
            amount=req.amount,
            currency=req.currency,
        )

    async def capture(self, req: CaptureRequest) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.CAPTURE,
            self._payment_url("/capture"),
            req,
            reference=req.transaction_id,
            amount=req.amount,
        )

    async def refund(self, req: RefundRequest) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.REFUND,
            self._payment_url("/refund"),
            req,
            reference=req.transaction_id,
            amount=req.amount,
        )

    async def cancel(self, req: CancelRequest) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.CANCEL, self._payment_url("/cancel"), req, reference=req.transaction_id
        )

    async def create_hpp_order(self, req: HppOrderRequest) -> GatewayResult[None]:
        """``POST {hpp}/hpp/order`` with the payment API's key headers (NetValve documents no bearer)."""
        return await self._post_transaction(
            Operation.CREATE_HPP_ORDER,
            self._settings.hpp_order_url,
            req,
            amount=req.amount,
            currency=req.currency,
        )

    async def inquiry(self, transaction_id: int) -> GatewayResult[None]:
        """``GET /inquiry``: the transaction's current response; its outcome is the transaction's."""
        headers, problem = self._payment_headers(json_body=False)
        return await self._call(
            _Request[None](
                operation=Operation.INQUIRY,
                method="GET",
                url=self._payment_url("/inquiry"),
                headers=headers,
                config_error=problem,
                params={"transactionId": str(transaction_id)},
                reference=transaction_id,
            )
        )

    async def get_transaction(self, transaction_id: int) -> GatewayResult[TransactionDetails]:
        headers, problem = self._payment_headers(json_body=False)
        return await self._call(
            _Request[TransactionDetails](
                operation=Operation.GET_TRANSACTION,
                method="GET",
                url=self._payment_url("/transaction"),
                headers=headers,
                config_error=problem,
                params={"id": str(transaction_id)},
                reference=transaction_id,
                kind="details",
                parse_details=TransactionDetails.model_validate,
                identity_keys=_TRANSACTION_IDENTITY,
            )
        )

    async def get_order(self, client_order_id: str) -> GatewayResult[OrderDetails]:
        headers, problem = self._payment_headers(json_body=False)
        return await self._call(
            _Request[OrderDetails](
                operation=Operation.GET_ORDER,
                method="GET",
                url=self._payment_url("/order"),
                headers=headers,
                config_error=problem,
                params={"clientOrderId": client_order_id},
                reference=client_order_id,
                kind="details",
                parse_details=OrderDetails.model_validate,
                identity_keys=_ORDER_IDENTITY,
            )
        )

    # --- 3-D Secure v2: no money moves, so an unanswered call is retried like a look-up -------------

    async def threeds_initialize(self, req: ThreeDSInitRequest) -> GatewayResult[ThreeDSProviderResponse]:
        return await self._post_threeds(Operation.THREEDS_INITIALIZE, "/3ds/v2/initialization", req)

    async def threeds_authenticate(self, req: ThreeDSAuthRequest) -> GatewayResult[ThreeDSProviderResponse]:
        return await self._post_threeds(Operation.THREEDS_AUTHENTICATE, "/3ds/authentication", req)

    async def threeds_result(self, req: ThreeDSResultRequest) -> GatewayResult[ThreeDSProviderResponse]:
        return await self._post_threeds(Operation.THREEDS_RESULT, "/3ds/result", req)

    async def _post_threeds(
        self, operation: Operation, path: str, req: WireRequest
    ) -> GatewayResult[ThreeDSProviderResponse]:
        headers, problem = self._payment_headers(json_body=True)
        return await self._call(
            _Request[ThreeDSProviderResponse](
                operation=operation,
                method="POST",
                url=self._payment_url(path),
                headers=headers,
                config_error=problem,
                body=req.to_wire(),
                parse_details=parse_provider_response,
                secrets=req.secret_values(),
            )
        )

    # --- backoffice API (undocumented by NetValve) ----------------------------------------------

    async def backoffice_hpf_scripts(self) -> GatewayResult[list[BackofficeScript]]:
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
        return await self._call(
            _Request[list[BackofficeScript]](
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
        return await self._call(
            _Request[BackofficeToken](
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

    # --- plumbing ------------------------------------------------------------------------------

    def _credentials(self) -> tuple[str, ...]:
        settings = self._settings
        values = (
            settings.netvalve_api_key.get_secret_value() if settings.netvalve_api_key else None,
            settings.netvalve_basic_auth_password.get_secret_value()
            if settings.netvalve_basic_auth_password
            else None,
            self._bo_token,
        )
        return tuple(value for value in values if value)

    def _payment_url(self, path: str) -> str:
        return self._settings.payment_api_url + path

    def _payment_headers(self, *, json_body: bool) -> tuple[dict[str, str], str | None]:
        """Auth headers of the payment and HPP APIs, and what is missing from settings, if anything."""
        settings = self._settings
        headers = {"Accept": "application/json"}
        if json_body:
            headers["Content-Type"] = "application/json"
        missing: list[str] = []
        if settings.netvalve_client_id:
            headers["netvalve-client-id"] = settings.netvalve_client_id
        else:
            missing.append("NETVALVE_CLIENT_ID")
        if settings.netvalve_payment_auth == "basic":
            user, password = settings.netvalve_basic_auth_username, settings.netvalve_basic_auth_password
            if user and password:
                pair = f"{user}:{password.get_secret_value()}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
            else:
                missing.append("NETVALVE_BASIC_AUTH_USERNAME/PASSWORD")
        elif settings.netvalve_api_key is not None:
            headers["netvalve-api-key"] = settings.netvalve_api_key.get_secret_value()
        else:
            missing.append("NETVALVE_API_KEY")
        problem = f"NetValve credentials not configured: {', '.join(missing)}" if missing else None
        return headers, problem

    async def _post_transaction(
        self,
        operation: Operation,
        url: str,
        req: WireRequest,
        *,
        reference: int | None = None,
        amount: Decimal | None = None,
        currency: str | None = None,
    ) -> GatewayResult[None]:
        body = req.to_wire()
        headers, problem = self._payment_headers(json_body=True)
        return await self._call(
            _Request[None](
                operation=operation,
                method="POST",
                url=url,
                headers=headers,
                config_error=problem,
                body=body,
                reference=reference,
                expect_amount=amount,
                expect_currency=currency,
                secrets=req.secret_values(),
            )
        )

    async def _call(self, req: _Request[D]) -> GatewayResult[D]:
        started = self._clock()
        if req.config_error is not None:
            local = _Attempt[D](Outcome.AUTH_ERROR, sent=False, breaker="neutral", retryable=False)
            return self._finish(req, local, started, attempts=0, sent=False, message=req.config_error)
        attempts = 0
        sent = False
        while True:
            if not self.circuit.allow():
                attempt = _Attempt[D](
                    Outcome.UNAVAILABLE,
                    sent=False,
                    breaker="neutral",
                    retryable=False,
                    message=self.circuit.open_message(),
                )
                break
            attempts += 1
            try:
                attempt = await self._attempt(req)
            except BaseException:
                self.circuit.release()
                raise
            self.circuit.record(attempt.breaker)
            sent = sent or attempt.sent
            if not attempt.retryable or attempts > self._settings.netvalve_max_retries:
                break
            delay = self._retry_delay(attempts - 1, attempt.retry_after)
            if delay is None:
                break
            logger.debug(
                "netvalve %s attempt %d %s, retrying in %.3fs",
                req.operation.value,
                attempts,
                attempt.outcome.value,
                delay,
            )
            await self._sleep(delay)
        return self._finish(req, attempt, started, attempts=attempts, sent=sent, message=attempt.message)

    def _retry_delay(self, retry_index: int, retry_after: float | None) -> float | None:
        """Full-jitter capped exponential backoff, or exactly ``Retry-After`` when NetValve gave one."""
        cap = self._settings.netvalve_retry_backoff_max_seconds
        if retry_after is not None:
            # Coming back sooner would be refused again; a longer wait is the caller's decision.
            return retry_after if retry_after <= cap else None
        return self._rng() * min(cap, self._settings.netvalve_retry_backoff_seconds * 2.0**retry_index)

    async def _attempt(self, req: _Request[D]) -> _Attempt[D]:
        try:
            response = await self._http.request(
                req.method, req.url, content=req.body, params=req.params, headers=req.headers
            )
        except _NOT_SENT_ERRORS as exc:
            # A full pool is our own congestion, not evidence that NetValve is down.
            verdict: BreakerVerdict = "neutral" if isinstance(exc, httpx.PoolTimeout) else "failure"
            return _Attempt[D](
                Outcome.UNAVAILABLE,
                sent=False,
                breaker=verdict,
                retryable=True,
                message=f"request not sent: {_describe(exc)}",
            )
        except _LOCAL_ERRORS as exc:
            return _Attempt[D](
                Outcome.UNAVAILABLE,
                sent=False,
                breaker="neutral",
                retryable=False,
                message=f"request not sent: {_describe(exc)}",
            )
        except httpx.TransportError as exc:
            return _Attempt[D](
                Outcome.UNKNOWN,
                sent=True,
                breaker="failure",
                retryable=not req.mutating,
                message=f"no answer after sending: {_describe(exc)}",
            )
        return self._read(req, response)

    def _read(self, req: _Request[D], http_response: httpx.Response) -> _Attempt[D]:
        status = http_response.status_code
        body = _decode_body(http_response)
        code: str | None = None
        message: str | None = None
        if req.kind == "plain":
            outcome = classify_plain(status, body is not None)
            if outcome is not Outcome.APPROVED:
                message = f"HTTP {status}"
        elif (
            req.kind == "details"
            and 200 <= status < 300
            and isinstance(body, Mapping)
            and any(body.get(key) not in (None, "") for key in req.identity_keys)
        ):
            outcome = Outcome.APPROVED
        else:
            outcome, code, message = classify_response(status, body, success_codes_for(req.operation))

        response: TransactionResponse | None = None
        if req.kind == "envelope" and isinstance(body, Mapping):
            try:
                response = TransactionResponse.model_validate(body)
            except ValueError:
                logger.warning("netvalve %s: response did not match TransactionResponse", req.operation.value)

        details: D | None = None
        shape_error = False
        if outcome is Outcome.APPROVED and req.parse_details is not None:
            try:
                details = req.parse_details(body)
            except ValueError:
                outcome, shape_error = Outcome.UNAVAILABLE, True
                message = "NetValve answered with an unexpected response shape"
        if outcome is Outcome.APPROVED and req.kind == "envelope" and response is None:
            # Approved, but without a readable transaction id the caller must look it up.
            outcome, shape_error = Outcome.UNKNOWN, True
            message = "NetValve approved but the response could not be read"
        if outcome is Outcome.APPROVED and response is not None:
            mismatch = _mismatch(req, response)
            if mismatch is not None:
                outcome, message = Outcome.MISMATCH, mismatch

        if message is not None:
            # NetValve's free text may echo what we sent or what it issued (tokens).
            message = scrub(message, (*req.secrets, *secret_values(body)))
        unavailable = outcome is Outcome.UNAVAILABLE and not shape_error
        retryable = not req.mutating and (unavailable or outcome is Outcome.RATE_LIMITED)
        return _Attempt[D](
            outcome,
            sent=True,
            breaker="failure" if unavailable else "success",
            retryable=retryable,
            http_status=status,
            code=code,
            message=message,
            response=response,
            details=details,
            retry_after=_parse_retry_after(http_response.headers.get("Retry-After")),
        )

    def _finish(
        self,
        req: _Request[D],
        attempt: _Attempt[D],
        started: float,
        *,
        attempts: int,
        sent: bool,
        message: str | None,
    ) -> GatewayResult[D]:
        duration = max(0.0, self._clock() - started)
        if message is not None:
            message = scrub(message, (*req.secrets, *self._credentials()))
        result = GatewayResult[D](
            outcome=attempt.outcome,
            operation=req.operation,
            http_status=attempt.http_status,
            code=attempt.code,
            message=message,
            response=attempt.response,
            details=attempt.details,
            request_sent=sent,
            retry_after=attempt.retry_after,
            duration_ms=round(duration * 1000, 3),
            attempts=attempts,
        )
        REQUESTS_TOTAL.labels(operation=req.operation.value, outcome=result.outcome.value).inc()
        REQUEST_SECONDS.labels(operation=req.operation.value).observe(duration)
        self._log(req, result)
        return result

    @staticmethod
    def _log(req: _Request[Any], result: GatewayResult[Any]) -> None:
        if result.outcome in _INFO_OUTCOMES:
            level = logging.INFO
        elif result.outcome in _ERROR_OUTCOMES:
            level = logging.ERROR
        else:
            level = logging.WARNING
        fields = {
            "operation": req.operation.value,
            "method": req.method,
            "path": urlsplit(req.url).path,
            "status": result.http_status,
            "outcome": result.outcome.value,
            "code": result.code,
            "transaction_id": result.transaction_id if result.transaction_id is not None else req.reference,
            "duration_ms": result.duration_ms,
            "attempts": result.attempts,
            "request_sent": result.request_sent,
            "detail": result.message,
        }
        logger.log(
            level,
            "netvalve %s %s -> %s",
            req.operation.value,
            fields["path"],
            result.outcome.value,
            extra=redact(fields),
        )
