"""Clear a dispute recorded in error: an operator's decision, audited in the log and the ledger."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.auth import ServiceAuth, request_address
from app.api.idempotency import IDEMPOTENCY_ERRORS, run_idempotent
from app.api.v1.endpoints.netvalve.deps import ServiceDep
from app.core.errors import (
    DatabaseUnavailable,
    Forbidden,
    MalformedBody,
    Unauthenticated,
    UnprocessableRequest,
    responses_for,
)
from app.schemas.netvalve import DisputeClearRequest, DisputeClearResponse
from app.services import errors

router = APIRouter()


@router.post(
    "/dispute/clear",
    response_model=DisputeClearResponse,
    responses=responses_for(
        MalformedBody,
        Unauthenticated,
        Forbidden,
        UnprocessableRequest,
        errors.PaymentNotFound,
        errors.PaymentNotDisputed,
        errors.OperationInProgress,
        DatabaseUnavailable,
        *IDEMPOTENCY_ERRORS,
    ),
)
async def clear_dispute(
    body: DisputeClearRequest, request: Request, service: ServiceDep, caller: ServiceAuth
) -> Response:
    """Undo a dispute (or alert) NetValve does not hold: the payment's status goes back to what its amounts
    say and refunds work again. Nothing is sent to NetValve."""

    async def handler(key: str | None) -> Response:
        answer = await service.money.clear_dispute(
            body.transaction_id, body.payment_session_id, body.reason, caller.key_id, request_address(request)
        )
        return Response(answer.model_dump_json(), media_type="application/json")

    return await run_idempotent(request, f"dispute-clear:{caller.key_id}", handler)
