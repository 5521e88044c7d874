"""Fault injection: latency, timeouts, 5xx, HTML 502, malformed or empty bodies, 429 and forced declines.

Faults come from the run-level knobs (`PUT /_sandbox/knobs`) or per request from the `x-sandbox-fault`
header, written like a query string: `latency=0.05`, `timeout`, `timeout=2`, `error=500`, `html502`,
`malformed`, `empty`, `empty=502`, `status=429&retry_after=2`, `decline`, `decline=BNK_2005`, plus
`after_commit=true|false`.

With `after_commit` the operation is applied first and only its answer is replaced, which is how a lost answer
looks to the client: the charge happened but the client never heard about it. It defaults to the
`fault_after_commit` knob, and when that is unset to true for `timeout`, `malformed` and `empty` and false for
`error`, `html502` and `status`.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from netvalve_sandbox.codes import is_decline_code
from netvalve_sandbox.wire import api_timestamp, now

FAULT_HEADER = "x-sandbox-fault"
FAULTABLE_PATHS = frozenset(
    {
        "/sale",
        "/authorize",
        "/createToken",
        "/capture",
        "/refund",
        "/cancel",
        "/inquiry",
        "/transaction",
        "/order",
        "/hpf/initializeSession",
        "/hpp/order",
        "/backoffice/users/sign-in",
        "/backoffice/hpf/script",
        "/3ds/v2/initialization",
        "/3ds/authentication",
        "/3ds/result",
    }
)
REPLACING_KINDS = frozenset({"timeout", "error", "html502", "malformed", "empty", "status"})
COMMITTED_BY_DEFAULT = frozenset({"timeout", "malformed", "empty"})
HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"
HTML_504 = "<html><body><h1>504 Gateway Time-out</h1></body></html>"
REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class FaultSpec:
    kind: str | None = None
    status_code: int = 200
    retry_after: str | None = None
    latency: float = 0.0
    timeout: float | None = None
    after_commit: bool | None = None
    decline: str | None = None


def _status(value: str, default: int) -> int:
    status = int(value) if value else default
    if not 100 <= status <= 599:
        raise ValueError(f"HTTP status out of range: {status}")
    return status


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in {"", "1", "true", "yes"}:
        return True
    if lowered in {"0", "false", "no"}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def parse_fault(text: str) -> FaultSpec:
    """Parse the fault vocabulary; raises ValueError on anything unknown so typos do not pass silently."""
    spec = FaultSpec()
    kinds: list[str] = []
    for raw_key, raw_value in parse_qsl(text.replace(";", "&"), keep_blank_values=True):
        key, value = raw_key.strip().lower(), raw_value.strip()
        if key == "latency":
            spec = replace(spec, latency=float(value))
        elif key == "timeout":
            kinds.append(key)
            spec = replace(spec, timeout=float(value) if value else None)
        elif key == "error":
            kinds.append(key)
            spec = replace(spec, status_code=_status(value, 500))
        elif key == "html502":
            kinds.append(key)
            spec = replace(spec, status_code=502)
        elif key in {"malformed", "empty"}:
            kinds.append(key)
            spec = replace(spec, status_code=_status(value, 200))
        elif key == "status":
            kinds.append(key)
            spec = replace(spec, status_code=_status(value, 429))
        elif key == "retry_after":
            spec = replace(spec, retry_after=value)
        elif key == "after_commit":
            spec = replace(spec, after_commit=_flag(value))
        elif key == "decline":
            code = value.upper() or "GTW_9999"
            if not is_decline_code(code):
                raise ValueError(f"not a decline code: {code}")
            spec = replace(spec, decline=code)
        else:
            raise ValueError(f"unknown fault: {key}")
    if len(kinds) > 1:
        raise ValueError(f"more than one fault: {', '.join(kinds)}")
    if spec.latency < 0 or (spec.timeout is not None and spec.timeout < 0):
        raise ValueError("latency and timeout must not be negative")
    if spec.retry_after is not None and kinds != ["status"]:
        raise ValueError("retry_after only goes with status=")
    return replace(spec, kind=kinds[0] if kinds else None)


class Knobs(BaseModel):
    """Run-level knobs; `fault_paths` (exact paths) restricts latency, error_rate and fault."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0, ge=0)
    error_rate: float = Field(default=0, ge=0, le=1)
    fault: str | None = None
    fault_paths: list[str] = Field(default_factory=list)
    fault_after_commit: bool | None = None
    duplicate_webhooks: bool = False
    out_of_order_webhooks: bool = False
    webhooks_enabled: bool = True
    seed: int = 1234
    # A NetValve account that issues no gateway token with a card payment: the merchant calls `/createToken`.
    sales_without_tokens: bool = False

    @field_validator("fault")
    @classmethod
    def _known_fault(cls, value: str | None) -> str | None:
        if value:
            parse_fault(value)
        return value or None


class FaultController:
    """Holds the live knobs and the seeded random source behind `error_rate`."""

    def __init__(self, knobs: Knobs, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self.knobs = knobs
        self._random = random.Random(knobs.seed)  # noqa: S311 -- reproducible fault rolls, not security
        # Requests taken off the wire and held by their latency right now, per path: a test that kills the
        # caller waits for this, so that the request has certainly reached NetValve.
        self.held: Counter[str] = Counter()

    def set_knobs(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self._random = random.Random(knobs.seed)  # noqa: S311 -- reproducible fault rolls, not security

    def _run_level_applies(self, path: str) -> bool:
        return not self.knobs.fault_paths or path in self.knobs.fault_paths

    def requested(self, path: str, header: str | None) -> FaultSpec:
        """The fault asked for by the header, else by the run-level knob, without any random roll."""
        run_level = self._run_level_applies(path)
        base = parse_fault(self.knobs.fault) if run_level and self.knobs.fault else FaultSpec()
        latency = self.knobs.latency_ms / 1000 if run_level else 0.0
        if header:
            chosen = parse_fault(header)
            if chosen.kind is None and chosen.decline is None:
                chosen = replace(chosen, kind=base.kind, status_code=base.status_code, decline=base.decline)
            base = chosen
        return replace(base, latency=base.latency + latency)

    def plan(self, path: str, header: str | None) -> FaultSpec:
        spec = self.requested(path, header)
        rolls = spec.kind is None and self._run_level_applies(path) and self.knobs.error_rate > 0
        if rolls and self._random.random() < self.knobs.error_rate:
            spec = replace(spec, kind="error", status_code=self._random.choice((500, 502, 503)))
        if spec.kind is None:
            return spec
        after_commit = spec.after_commit
        if after_commit is None:
            after_commit = self.knobs.fault_after_commit
        if after_commit is None:
            after_commit = spec.kind in COMMITTED_BY_DEFAULT
        return replace(spec, after_commit=after_commit)

    async def response_for(self, spec: FaultSpec, path: str) -> Response:
        if spec.kind == "timeout":
            await asyncio.sleep(spec.timeout if spec.timeout is not None else self.timeout_seconds)
            return Response(HTML_504, status_code=504, media_type="text/html")
        if spec.kind == "html502":
            return Response(HTML_502, status_code=502, media_type="text/html")
        if spec.kind == "malformed":
            return Response(
                b'{"traceID":"00000000-0000-4000-8000-000000000000","responseCode":"GTW_10',
                status_code=spec.status_code,
                media_type="application/json",
            )
        if spec.kind == "empty":
            return Response(b"", status_code=spec.status_code, media_type="application/json")
        headers = {"Retry-After": spec.retry_after} if spec.retry_after else None
        body = {
            "timestamp": api_timestamp(now()),
            "status": spec.status_code,
            "error": REASONS.get(spec.status_code, "Error"),
            "path": path,
        }
        return JSONResponse(body, status_code=spec.status_code, headers=headers)


async def _discard(_: Message) -> None:
    return None


async def _read_request(receive: Receive) -> Receive:
    """Take the whole request off the wire now and hand back a `receive` that replays it.

    Latency must not depend on the caller's patience: NetValve goes on with a charge whose caller has
    already given up (a read timeout), and that is exactly the lost answer reconciliation has to find.
    Without this, the route would read the body after the hang-up and only see `http.disconnect`."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay


class FaultMiddleware:
    """Pure ASGI so that an applied-then-lost answer can run the route and throw its response away."""

    def __init__(self, app: ASGIApp, controller: FaultController) -> None:
        self.app = app
        self.controller = controller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in FAULTABLE_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            spec = self.controller.plan(path, Headers(scope=scope).get(FAULT_HEADER))
        except ValueError as exc:
            await JSONResponse({"sandboxError": str(exc)}, status_code=400)(scope, receive, send)
            return
        if spec.latency:
            receive = await _read_request(receive)
            self.controller.held[path] += 1
            try:
                await asyncio.sleep(spec.latency)
            finally:
                self.controller.held[path] -= 1
        if spec.kind not in REPLACING_KINDS:
            await self.app(scope, receive, send)
            return
        if spec.after_commit:
            await self.app(scope, receive, _discard)
        response = await self.controller.response_for(spec, path)
        await response(scope, receive, send)
