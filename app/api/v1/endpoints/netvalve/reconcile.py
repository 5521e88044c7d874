"""Settle pending and unknown payments by asking NetValve (also run periodically in the background)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.auth import ServiceAuth
from app.api.v1.endpoints.netvalve.deps import ServiceDep
from app.core.errors import (
    DatabaseUnavailable,
    Forbidden,
    MalformedBody,
    Unauthenticated,
    UnprocessableRequest,
    responses_for,
)
from app.schemas.netvalve import ReconcileRequest, ReconcileResponse

router = APIRouter()


@router.post(
    "/reconcile",
    response_model=ReconcileResponse,
    responses=responses_for(
        MalformedBody, Unauthenticated, Forbidden, UnprocessableRequest, DatabaseUnavailable
    ),
)
async def reconcile(body: ReconcileRequest, service: ServiceDep, _: ServiceAuth) -> ReconcileResponse:
    """Ask NetValve about every payment whose outcome is still open."""
    examined, settled, still_open = await service.reconciliation.reconcile(body.limit)
    return ReconcileResponse(examined=examined, settled=settled, still_open=still_open)
