"""Cancel (void) an authorization that was not captured."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.auth import ServiceAuth
from app.api.idempotency import IDEMPOTENCY_ERRORS, run_idempotent
from app.api.v1.endpoints.netvalve.deps import ServiceDep, answer_response
from app.core.errors import MalformedBody, responses_for
from app.schemas.netvalve import CancelDeleted, CancelRequest, MoneyOperationResponse
from app.services import errors

router = APIRouter()


@router.post(
    "/cancel",
    response_model=CancelDeleted,
    responses={
        202: {"model": MoneyOperationResponse, "description": "Outcome unknown; reconciliation settles it"},
        **responses_for(
            MalformedBody,
            *errors.MONEY_OPERATION_ERRORS,
            errors.PaymentCapturedUseRefund,
            *IDEMPOTENCY_ERRORS,
        ),
    },
)
async def cancel(body: CancelRequest, request: Request, service: ServiceDep, caller: ServiceAuth) -> Response:
    """Void; an already cancelled payment is success, a captured one is 409 (refund it instead)."""

    async def handler(key: str | None) -> Response:
        return answer_response(await service.money.cancel(body.transaction_id, body.payment_session_id, key))

    return await run_idempotent(request, f"cancel:{caller.key_id}", handler)
