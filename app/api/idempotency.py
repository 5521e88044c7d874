"""``Idempotency-Key`` for every mutating route: replay the stored answer, refuse a changed body."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import AppError, Conflict, UnprocessableRequest, error_response
from app.repositories.idempotency import IdempotencyRepository

HEADER = "idempotency-key"
REPLAY_HEADER = "idempotent-replayed"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Answers worth keeping: a later retry with the same key must see them, not repeat the operation.
# 500 and 503 mean nothing durable happened, so the key is released and a retry runs again.
_RETRYABLE_STATUSES = frozenset({500, 503})


class IdempotencyKeyReused(UnprocessableRequest):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request body."


class IdempotencyRequestInProgress(Conflict):
    code = "idempotency_request_in_progress"
    message = "A request with this Idempotency-Key is still running."


class InvalidIdempotencyKey(UnprocessableRequest):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 printable ASCII characters."


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
        if exc.status_code in _RETRYABLE_STATUSES:
            await _release(sessionmaker, scope, key)
            raise
        response = error_response(exc.status_code, exc.code, exc.detail_message, exc.details, exc.headers)
    except BaseException:
        await _release(sessionmaker, scope, key)
        raise
    if response.status_code in _RETRYABLE_STATUSES:
        await _release(sessionmaker, scope, key)
        return response
    async with sessionmaker.begin() as session:
        await IdempotencyRepository(session).complete(scope, key, response.status_code, bytes(response.body))
    return response


async def _release(sessionmaker: async_sessionmaker[AsyncSession], scope: str, key: str) -> None:
    async with sessionmaker.begin() as session:
        await IdempotencyRepository(session).release(scope, key)
