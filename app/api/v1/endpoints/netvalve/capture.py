"""Capture an authorization, in full or in part (a partial capture is final)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.auth import ServiceAuth
from app.api.idempotency import IDEMPOTENCY_ERRORS, run_idempotent
from app.api.v1.endpoints.netvalve.deps import ServiceDep, answer_response
from app.core.errors import MalformedBody, responses_for
from app.schemas.netvalve import CaptureRequest, CaptureResponse, MoneyOperationResponse
from app.services import errors

router = APIRouter()


@router.post(
    "/capture",
    response_model=CaptureResponse,
    responses={
        202: {"model": MoneyOperationResponse, "description": "Outcome unknown; reconciliation settles it"},
        **responses_for(
            MalformedBody,
            *errors.MONEY_OPERATION_ERRORS,
            errors.CaptureExceedsAuthorized,
            errors.InvalidAmount,
            *IDEMPOTENCY_ERRORS,
        ),
    },
)
async def capture(
    body: CaptureRequest, request: Request, service: ServiceDep, caller: ServiceAuth
) -> Response:
    """Capture; capturing what is already captured is success without a gateway call."""

    async def handler(key: str | None) -> Response:
        return answer_response(
            await service.money.capture(body.transaction_id, body.payment_session_id, body.amount, key)
        )

    return await run_idempotent(request, f"capture:{caller.key_id}", handler)
