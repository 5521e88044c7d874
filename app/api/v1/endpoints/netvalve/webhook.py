"""NetValve's webhook: authenticate, store once, answer fast. Processing happens later, in the worker.

Plus the operations routes: list events by status and replay one."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from asyncpg import InterfaceError as AsyncpgInterfaceError
from asyncpg import PostgresError
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.auth import ServiceAuth, request_address
from app.core.client_address import in_networks, parse_ip
from app.core.config import Settings
from app.core.errors import AppError, DatabaseUnavailable, Forbidden, NotFound, Unauthenticated, responses_for
from app.core.security import matches_any
from app.gateway.events import BODY_RULE, BODY_SCHEMA, UnreadableBody, read_body
from app.models import WebhookEventStatus
from app.repositories.webhooks import WebhookRepository, store_event
from app.schemas.values import MAX_SAFE_INTEGER
from app.schemas.webhook import WebhookAcceptedResponse, WebhookEventListResponse, WebhookEventResponse
from app.services.webhook_service import WEBHOOKS, event_row, safe_headers

logger = logging.getLogger(__name__)

router = APIRouter()


class WebhookNotConfigured(AppError):
    status_code = 503
    code = "webhook_not_configured"
    message = "Webhook authentication is not configured; every delivery is refused."


class WebhookUnauthenticated(AppError):
    status_code = 401
    code = "webhook_unauthenticated"
    message = "The webhook authentication header is missing or wrong."


class WebhookIpForbidden(AppError):
    status_code = 403
    code = "webhook_ip_forbidden"
    message = "Webhooks are not accepted from this address."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "The webhook body is too large."


class InvalidWebhookBody(AppError):
    status_code = 400
    code = "invalid_webhook_body"
    message = BODY_RULE


def _authenticate(request: Request, settings: Settings) -> str | None:
    if not settings.webhook_auth_configured:
        raise WebhookNotConfigured()
    client_ip = request_address(request)
    if settings.netvalve_webhook_allowed_ips and not in_networks(
        parse_ip(client_ip), settings.netvalve_webhook_allowed_ips
    ):
        raise WebhookIpForbidden()
    header = settings.netvalve_webhook_auth_header
    assert header is not None
    given = request.headers.get(header)
    if given is None or not matches_any(given, settings.netvalve_webhook_auth_values):
        raise WebhookUnauthenticated()
    return client_ip


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge()
        except ValueError:
            raise InvalidWebhookBody("Content-Length is not a number.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> tuple[dict[str, Any], str]:
    try:
        return read_body(body)
    except UnreadableBody as exc:
        raise InvalidWebhookBody(str(exc)) from None


@router.post(
    "/webhook",
    response_model=WebhookAcceptedResponse,
    openapi_extra={"requestBody": BODY_SCHEMA},
    responses=responses_for(
        InvalidWebhookBody,
        WebhookUnauthenticated,
        WebhookIpForbidden,
        PayloadTooLarge,
        WebhookNotConfigured,
        DatabaseUnavailable,
    ),
)
async def receive_webhook(request: Request) -> WebhookAcceptedResponse:
    """Store one NetValve delivery (de-duplicated) and acknowledge it once it is committed."""
    settings: Settings = request.app.state.settings
    try:
        client_ip = _authenticate(request, settings)
        payload, text = _parse(await _read_body(request, settings.webhook_max_body_bytes))
    except AppError:
        WEBHOOKS.labels("rejected").inc()
        raise
    row = event_row(
        payload,
        text,
        safe_headers(request.headers, settings.netvalve_webhook_auth_header),
        client_ip,
    )
    try:
        inserted = await store_event(request.app.state.engine, row)
    except (DBAPIError, PostgresError, AsyncpgInterfaceError, OSError, TimeoutError) as exc:
        # Any failure to store is a 503, so NetValve delivers the event again: a 200 only for a stored row.
        logger.error("webhook not stored", exc_info=exc)
        WEBHOOKS.labels("failed").inc()
        raise DatabaseUnavailable("The event could not be stored; retry later.") from None
    if inserted is None:
        WEBHOOKS.labels("duplicate").inc()
        return WebhookAcceptedResponse(status="duplicate")
    WEBHOOKS.labels("received").inc()
    return WebhookAcceptedResponse(status="accepted")


@router.get(
    "/webhook/events",
    response_model=WebhookEventListResponse,
    responses=responses_for(Unauthenticated, Forbidden, DatabaseUnavailable),
)
async def list_webhook_events(
    request: Request,
    _: ServiceAuth,
    status: Annotated[list[WebhookEventStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> WebhookEventListResponse:
    """Stored webhook events, newest first, optionally filtered by status (e.g. pending, attention)."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as db:
        events = await WebhookRepository(db).list_events([s.value for s in status or []], limit)
    return WebhookEventListResponse(events=[WebhookEventResponse.of(event) for event in events])


@router.post(
    "/webhook/events/{event_id}/replay",
    response_model=WebhookEventResponse,
    responses=responses_for(Unauthenticated, Forbidden, NotFound, DatabaseUnavailable),
)
async def replay_webhook_event(
    event_id: Annotated[int, Path(ge=1, le=MAX_SAFE_INTEGER)], request: Request, _: ServiceAuth
) -> WebhookEventResponse:
    """Queue an event for processing again now (the worker picks it up on its next pass)."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker.begin() as db:
        event = await WebhookRepository(db).queue_replay(event_id)
        if event is None:
            raise NotFound("No webhook event with this id.")
    return WebhookEventResponse.of(event)
