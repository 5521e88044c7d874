"""Liveness, readiness and metrics: the routes an orchestrator and Prometheus call."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.datastructures import State

from app.api.auth import require_service_key
from app.core.errors import AppError, ErrorResponse, error_response

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

READY_CHECK_TIMEOUT_SECONDS = 2.0


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    # Outside production only: which dependency failed, and how, is for operators, not the internet.
    checks: dict[str, str] | None = None


@router.get("/health", response_model=HealthResponse)
async def health() -> HealthResponse:
    """Liveness: the process answers; touches no dependency."""
    return HealthResponse(status="ok")


@dataclass(slots=True)
class _LastProbe:
    """Production's last readiness probe, shared by the callers without a service key."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    checks: dict[str, str] | None = None
    at: float = 0.0


async def _probe(state: State) -> dict[str, str]:
    checks: dict[str, str] = {}

    async def our_db() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def medusa_db() -> None:
        await state.medusa_pool.fetchval("SELECT 1")

    for name, probe in (("database", our_db), ("medusa_database", medusa_db)):
        try:
            await asyncio.wait_for(probe(), READY_CHECK_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is reported
            checks[name] = f"unavailable: {type(exc).__name__}"
    checks["configuration"] = "ok" if state.settings.netvalve_api_key else "missing NETVALVE_API_KEY"
    return checks


async def _recent_probe(state: State) -> dict[str, str]:
    """A probe at most ``READY_CACHE_SECONDS`` old; concurrent callers wait for one probe, not one each."""
    last: _LastProbe | None = getattr(state, "last_ready_probe", None)
    if last is None:
        last = state.last_ready_probe = _LastProbe()
    async with last.lock:
        if last.checks is None or time.monotonic() - last.at >= state.settings.ready_cache_seconds:
            last.checks = await _probe(state)
            last.at = time.monotonic()
        return last.checks


async def _has_service_key(request: Request) -> bool:
    if not request.headers.get("authorization"):
        return False
    try:
        await require_service_key(request)
    except AppError:
        return False
    return True


@router.get(
    "/ready",
    response_model=ReadyResponse,
    response_model_exclude_none=True,
    responses={503: {"model": ErrorResponse, "description": "Error codes: not_ready"}},
)
async def ready(request: Request) -> ReadyResponse | Response:
    """Readiness: both databases answer and the configuration is complete (the details outside production).
    In production, a caller without the service key (anyone who can reach the port) gets the verdict of a
    probe at most ``READY_CACHE_SECONDS`` old, so that no number of them adds load on the databases."""
    state = request.app.state
    production = state.settings.is_production
    if production and not await _has_service_key(request):
        checks = await _recent_probe(state)
    else:
        checks = await _probe(state)
    details = None if production else checks
    if any(value != "ok" for value in checks.values()):
        logger.warning("not ready", extra={"checks": checks})
        return error_response(503, "not_ready", "The service is not ready.", details)
    return ReadyResponse(status="ready", checks=details)


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format; in production only with a service key (``Authorization: Bearer``)."""
    if request.app.state.settings.is_production:
        await require_service_key(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
