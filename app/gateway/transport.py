"""How one call reaches NetValve: the retry loop, the circuit breaker, the error taxonomy of a call that
got no answer, the worst-case duration of a call, metrics and the call's log line.

Retry rules (the reason this module exists):

* a call that failed before any byte reached NetValve (connect error, connect/pool timeout) is retried,
  mutating or not;
* read-only calls are also retried on 5xx, unusable bodies, 429 and timeouts after sending;
* a mutating call (sale, authorize, capture, refund, cancel, HPP order) that was sent is never re-sent:
  a lost answer is ``UNKNOWN`` and a 5xx/garbage answer is ``UNAVAILABLE`` with ``request_sent=True``;
  the caller must resolve both with ``inquiry``/``get_order`` before trying again.

A per-client circuit breaker fails fast after repeated transport failures or unusable answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from prometheus_client import Counter, Histogram

from app.core.config import Settings
from app.core.redaction import redact, scrub
from app.gateway.codes import Outcome
from app.gateway.outcomes import read_answer
from app.gateway.result import Attempt, BreakerVerdict, CallSpec, GatewayResult

logger = logging.getLogger(__name__)

D = TypeVar("D")

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
# Raised before the request left this process: safe to retry any call.
_NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Our own mistake (bad URL scheme, malformed request): retrying cannot help.
_LOCAL_ERRORS: Final = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


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


class Transport:
    """Sends one ``CallSpec`` with retries that cannot charge twice, and records it (metrics, log)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[object]],
        clock: Callable[[], float],
        rng: Callable[[], float],
        credentials: Callable[[], tuple[str, ...]],
    ) -> None:
        self._http = http
        self._settings = settings
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._credentials = credentials
        self.circuit = CircuitBreaker(
            settings.netvalve_circuit_failure_threshold,
            settings.netvalve_circuit_cooldown_seconds,
            clock,
        )

    async def call(self, req: CallSpec[D]) -> GatewayResult[D]:
        started = self._clock()
        if req.config_error is not None:
            local = Attempt[D](Outcome.AUTH_ERROR, sent=False, breaker="neutral", retryable=False)
            return self._finish(req, local, started, attempts=0, sent=False, message=req.config_error)
        attempts = 0
        sent = False
        while True:
            if not self.circuit.allow():
                attempt = Attempt[D](
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

    async def _attempt(self, req: CallSpec[D]) -> Attempt[D]:
        try:
            response = await self._http.request(
                req.method, req.url, content=req.body, params=req.params, headers=req.headers
            )
        except _NOT_SENT_ERRORS as exc:
            # A full pool is our own congestion, not evidence that NetValve is down.
            verdict: BreakerVerdict = "neutral" if isinstance(exc, httpx.PoolTimeout) else "failure"
            return Attempt[D](
                Outcome.UNAVAILABLE,
                sent=False,
                breaker=verdict,
                retryable=True,
                message=f"request not sent: {_describe(exc)}",
            )
        except _LOCAL_ERRORS as exc:
            return Attempt[D](
                Outcome.UNAVAILABLE,
                sent=False,
                breaker="neutral",
                retryable=False,
                message=f"request not sent: {_describe(exc)}",
            )
        except httpx.TransportError as exc:
            return Attempt[D](
                Outcome.UNKNOWN,
                sent=True,
                breaker="failure",
                retryable=not req.mutating,
                message=f"no answer after sending: {_describe(exc)}",
            )
        return read_answer(req, response)

    def _finish(
        self,
        req: CallSpec[D],
        attempt: Attempt[D],
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
    def _log(req: CallSpec[Any], result: GatewayResult[Any]) -> None:
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
