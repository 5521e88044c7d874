"""Refund a captured payment, in full or in part."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.auth import ServiceAuth
from app.api.idempotency import IDEMPOTENCY_ERRORS, run_idempotent
from app.api.v1.endpoints.netvalve.deps import ServiceDep, answer_response
from app.core.errors import MalformedBody, responses_for
from app.schemas.netvalve import MoneyOperationResponse, RefundRequest, RefundResponse
from app.services import errors

router = APIRouter()


@router.post(
    "/refund",
    response_model=RefundResponse,
    responses={
        202: {"model": MoneyOperationResponse, "description": "Outcome unknown; reconciliation settles it"},
        **responses_for(
            MalformedBody,
            *errors.MONEY_OPERATION_ERRORS,
            errors.RefundExceedsCaptured,
            errors.PaymentDisputed,
            errors.InvalidAmount,
            *IDEMPOTENCY_ERRORS,
        ),
    },
)
async def refund(body: RefundRequest, request: Request, service: ServiceDep, caller: ServiceAuth) -> Response:
    """Refund; never more than captured minus refunded."""

    async def handler(key: str | None) -> Response:
        return answer_response(
            await service.money.refund(body.transaction_id, body.payment_session_id, body.amount, key)
        )

    return await run_idempotent(request, f"refund:{caller.key_id}", handler)
