"""Request id, access logging and request size limits as plain ASGI middleware (cheaper than
BaseHTTPMiddleware on hot paths)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import error_response
from app.core.logging import request_id_var

logger = logging.getLogger("app.access")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Printable ASCII but space and "%": a path made only of these is logged as it is.
_PLAIN_PATH = re.compile(r"[!-$&-~]*")


def loggable_path(path: str) -> str:
    """The (decoded) request path as one log token: a character that could end or split a log line (a
    control character such as a ``%0a`` in the URL, a Unicode separator, a space), and "%" itself, is
    percent-encoded as in a URL, so that no client can forge a line or a field in either log format."""
    if _PLAIN_PATH.fullmatch(path):
        return path
    return "".join(c if c.isprintable() and c not in " %" else quote(c, safe="") for c in path)


class RequestContextMiddleware:
    """Accepts a caller's ``X-Request-ID`` (or makes one), returns it, and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": loggable_path(scope["path"]),
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class RequestLimitsMiddleware:
    """Refuses oversized headers (431) and bodies (413) before anything parses them.

    The body limit is checked against ``Content-Length`` first, then counted while the body is read, so a
    chunked or lying request is cut off at the limit. ``body_limits`` gives some paths their own limit."""

    def __init__(
        self, app: ASGIApp, max_header_bytes: int, max_body_bytes: int, body_limits: dict[str, int]
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.body_limits = body_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if sum(len(name) + len(value) for name, value in headers) > self.max_header_bytes:
            refusal = error_response(431, "headers_too_large", "The request headers are too large.")
            await refusal(scope, receive, send)
            return
        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        declared = next((value for name, value in headers if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            refusal = error_response(413, "payload_too_large", "The request body is too large.")
            await refusal(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI lets an HTTPException from the body read through to the exception handlers.
                    raise HTTPException(413, "The request body is too large.")
            return message

        await self.app(scope, counting_receive, send)
