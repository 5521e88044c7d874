"""Pay for a cart (or a payment collection without one) with the HPF token: NetValve ``/sale`` (or
``/authorize`` in manual-capture mode)."""

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
from app.schemas.payment import PayRequest, PayResponse
from app.services import errors
from app.services import saved_card_errors as vault_errors

router = APIRouter()


@router.post(
    "/payment",
    response_model=PayResponse,
    responses={
        202: {"model": PayResponse, "description": "Outcome pending or unknown; reconciliation settles it"},
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
            errors.PaymentTokenCartMismatch,
            errors.PaymentAttemptsExceeded,
            RateLimited,
            errors.InvalidPaymentToken,
            errors.CardDeclined,
            errors.ThreeDSFailed,
            errors.BrowserDataRequired,
            errors.ThreeDSReturnUrlNotAllowed,
            errors.GatewayRejected,
            errors.GatewayUnavailable,
            vault_errors.SavedCardsDisabled,
            vault_errors.SavedCardNotFound,
            vault_errors.SavedCardExpired,
            vault_errors.SaveCardRequiresAccount,
            vault_errors.SavedCardNoConsent,
            DatabaseUnavailable,
            *IDEMPOTENCY_ERRORS,
        ),
    },
)
async def pay(body: PayRequest, request: Request, service: ServiceDep, caller: StorefrontAuthDep) -> Response:
    """Charge the cart for the amount Medusa holds; an already paid cart answers without a new charge."""

    async def handler(key: str | None) -> Response:
        with answering(caller):
            answer = await service.payments.pay(
                body.cart_id,
                body.payment_session_id,
                body.payment_token,
                customer_ip(request),
                key,
                caller,
                body.browser,
                body.threeds_return_url,
                payment_collection_id=body.payment_collection_id,
                save_card=body.save_card,
                saved_card_id=body.saved_card_id,
            )
        return answer_response(answer)

    # Scoped by key and cart (or collection): every shopper shares the publishable key, and none may occupy
    # another's key.
    payer = body.cart_id or body.payment_collection_id
    return await run_idempotent(request, f"payment:{caller.key_id}:{payer}", handler)
