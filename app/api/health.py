"""Liveness, readiness and metrics: the routes an orchestrator and Prometheus call."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from app.api.auth import require_service_key
from app.core.errors import ErrorResponse, error_response

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


@router.get(
    "/ready",
    response_model=ReadyResponse,
    response_model_exclude_none=True,
    responses={503: {"model": ErrorResponse, "description": "Error codes: not_ready"}},
)
async def ready(request: Request) -> ReadyResponse | Response:
    """Readiness: both databases answer and the configuration is complete (the details outside production)."""
    state = request.app.state
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
    details = None if state.settings.is_production else checks
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
