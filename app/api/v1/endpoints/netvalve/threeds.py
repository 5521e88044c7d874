"""Finish a 3-D Secure authentication (``NETVALVE_THREEDS=on``): after the device-data frame or the
challenge, NetValve is asked for the result, and the sale follows or the payment is declined."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.auth import StorefrontAuthDep, customer_ip
from app.api.idempotency import IDEMPOTENCY_ERRORS, run_idempotent
from app.api.v1.endpoints.netvalve.deps import ServiceDep, answer_response, answering
from app.core.errors import (
    DatabaseUnavailable,
    Forbidden,
    MalformedBody,
    RateLimited,
    Unauthenticated,
    UnprocessableRequest,
    responses_for,
)
from app.schemas.payment import PayActionResponse, ThreeDSFinishRequest
from app.services import errors
from app.services import saved_card_errors as vault_errors

router = APIRouter()


@router.post(
    "/threeds/finish",
    response_model=PayActionResponse,
    responses={
        202: {"model": PayActionResponse, "description": "Sale outcome pending or unknown"},
        **responses_for(
            MalformedBody,
            Unauthenticated,
            Forbidden,
            UnprocessableRequest,
            errors.CartNotFound,
            errors.PaymentCollectionNotFound,
            errors.PaymentSessionNotFound,
            errors.CartCompleted,
            errors.PaymentCollectionPaid,
            errors.PaymentCollectionCanceled,
            errors.PaymentCollectionMissing,
            errors.CurrencyNotConfigured,
            errors.InvalidAmount,
            errors.CurrencyNotSupported,
            errors.InvalidPaymentRequest,
            errors.PaymentAmountMismatch,
            errors.OperationInProgress,
            errors.ThreeDSNotStarted,
            errors.ThreeDSTokenMismatch,
            errors.ThreeDSFailed,
            errors.PaymentAttemptsExceeded,
            RateLimited,
            errors.InvalidPaymentToken,
            errors.CardDeclined,
            errors.GatewayRejected,
            errors.GatewayUnavailable,
            vault_errors.SavedCardsDisabled,
            vault_errors.SavedCardNotFound,
            vault_errors.SavedCardExpired,
            vault_errors.SaveCardRequiresAccount,
            DatabaseUnavailable,
            *IDEMPOTENCY_ERRORS,
        ),
    },
)
async def finish_threeds(
    body: ThreeDSFinishRequest, request: Request, service: ServiceDep, caller: StorefrontAuthDep
) -> Response:
    """Go on after the storefront's 3-D Secure step: the sale, the challenge, or a decline; never twice."""
    address = customer_ip(request)

    async def handler(key: str | None) -> Response:
        with answering(caller):
            answer = await service.threeds.finish(
                body.cart_id,
                body.payment_session_id,
                body.payment_token,
                address,
                key,
                caller,
                payment_collection_id=body.payment_collection_id,
                saved_card_id=body.saved_card_id,
            )
        return answer_response(answer)

    payer = body.cart_id or body.payment_collection_id
    return await run_idempotent(request, f"threeds:{caller.key_id}:{payer}", handler)
