"""Liveness, readiness and metrics: the routes an orchestrator and Prometheus call."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from app.core.errors import ErrorResponse, error_response

router = APIRouter(tags=["operations"])

READY_CHECK_TIMEOUT_SECONDS = 2.0


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/health", response_model=HealthResponse)
async def health() -> HealthResponse:
    """Liveness: the process answers; touches no dependency."""
    return HealthResponse(status="ok")


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses={503: {"model": ErrorResponse, "description": "Error codes: not_ready"}},
)
async def ready(request: Request) -> ReadyResponse | Response:
    """Readiness: both databases answer and the configuration is complete."""
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
    if any(value != "ok" for value in checks.values()):
        return error_response(503, "not_ready", "The service is not ready.", checks)
    return ReadyResponse(status="ready", checks=checks)


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
