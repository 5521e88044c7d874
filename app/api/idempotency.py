"""``Idempotency-Key`` for every mutating route: replay the stored answer, refuse a changed body."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import AppError, Conflict, RateLimited, UnprocessableRequest, error_response
from app.repositories.idempotency import IdempotencyRepository
from app.services.errors import OperationInProgress

HEADER = "idempotency-key"
REPLAY_HEADER = "idempotent-replayed"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# A key keeps its request's final answer: money moved (200, 202 with the outcome still open), or a refusal
# that the payment's state or the request itself makes final (4xx). Answers that say "try again" are not
# final: the key is released, so that the retry they ask for runs again instead of hearing them replayed
# for a day. 5xx: nothing durable happened (500, 503 unavailable, 502 NetValve refused the request as it
# stood, so it certainly did nothing, 504); a conflict with another request still running; a rate limit.
# ``payment_attempts_exceeded`` (429) stays final: a cart's attempts do not come back.
_RETRY_LATER_STATUSES = frozenset({500, 502, 503, 504})


class IdempotencyKeyReused(UnprocessableRequest):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request body."


class IdempotencyRequestInProgress(Conflict):
    code = "idempotency_request_in_progress"
    message = "A request with this Idempotency-Key is still running."


class InvalidIdempotencyKey(UnprocessableRequest):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 printable ASCII characters."


_RETRY_LATER_CODES = frozenset(
    {OperationInProgress.code, IdempotencyRequestInProgress.code, RateLimited.code}
)


IDEMPOTENCY_ERRORS: tuple[type[AppError], ...] = (
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    InvalidIdempotencyKey,
)


async def run_idempotent(
    request: Request,
    scope: str,
    handler: Callable[[str | None], Awaitable[Response]],
) -> Response:
    """Run ``handler`` at most once per (scope, key); without the header it simply runs. The handler gets
    ``"<scope>:<key>"`` to record on the gateway call it makes, so that a retry whose stored answer was lost
    still finds that call instead of making another."""
    key = request.headers.get(HEADER)
    if key is None:
        return await handler(None)
    if not _VALID_KEY.match(key):
        raise InvalidIdempotencyKey()
    body = await request.body()
    fingerprint = hashlib.sha256(request.method.encode() + b" " + request.url.path.encode() + b"\n" + body)
    digest = fingerprint.hexdigest()
    # Each step is one statement: autocommit spares the BEGIN and COMMIT round trips around it.
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.autocommit
    settings = request.app.state.settings
    ttl = timedelta(hours=settings.idempotency_key_ttl_hours)
    lease = timedelta(seconds=settings.idempotency_lease_seconds)

    async with sessionmaker.begin() as session:
        repo = IdempotencyRepository(session)
        owned = await repo.claim(scope, key, digest, ttl, lease)
        existing = None if owned else await repo.get(scope, key)
    if existing is not None:
        if existing.request_sha256 != digest:
            raise IdempotencyKeyReused()
        if existing.response_status is None or existing.response_body is None:
            raise IdempotencyRequestInProgress()
        return Response(
            content=existing.response_body,
            status_code=existing.response_status,
            media_type="application/json",
            headers={REPLAY_HEADER: "true"},
        )
    if not owned:
        # The holder finished and its key expired between our two statements: ask the caller to retry.
        raise IdempotencyRequestInProgress()

    try:
        response = await handler(f"{scope}:{key}")
    except AppError as exc:
        if _retry_later(exc.status_code, exc.code):
            await _release(sessionmaker, scope, key)
            raise
        response = error_response(exc.status_code, exc.code, exc.detail_message, exc.details, exc.headers)
    except BaseException:
        await _release(sessionmaker, scope, key)
        raise
    if _retry_later(response.status_code, _error_code(response)):
        await _release(sessionmaker, scope, key)
        return response
    async with sessionmaker.begin() as session:
        await IdempotencyRepository(session).complete(scope, key, response.status_code, bytes(response.body))
    return response


def _retry_later(status: int, code: str | None) -> bool:
    return status in _RETRY_LATER_STATUSES or code in _RETRY_LATER_CODES


def _error_code(response: Response) -> str | None:
    """The machine code of an error answer a handler returned instead of raising."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(bytes(response.body))
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


async def _release(sessionmaker: async_sessionmaker[AsyncSession], scope: str, key: str) -> None:
    async with sessionmaker.begin() as session:
        await IdempotencyRepository(session).release(scope, key)
