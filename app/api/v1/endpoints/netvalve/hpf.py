"""HPF session: how the storefront will collect the card (hosted fields, or a hosted page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.auth import StorefrontAuthDep
from app.api.v1.endpoints.netvalve.deps import NO_STORE, ServiceDep, answering
from app.core.errors import (
    AppError,
    DatabaseUnavailable,
    Forbidden,
    MalformedBody,
    RateLimited,
    Unauthenticated,
    UnprocessableRequest,
    responses_for,
)
from app.schemas.netvalve import HpfSessionRequest, HpfSessionResponse
from app.services import errors

router = APIRouter()

_ERROR_TYPES: tuple[type[AppError], ...] = (
    Unauthenticated,
    Forbidden,
    UnprocessableRequest,
    errors.CartNotFound,
    errors.PaymentSessionNotFound,
    errors.CartCompleted,
    errors.CartAlreadyPaid,
    errors.PaymentCollectionMissing,
    errors.CurrencyNotConfigured,
    errors.CurrencyNotSupported,
    errors.InvalidAmount,
    errors.HpfSessionUnavailable,
    errors.PaymentAttemptsExceeded,
    RateLimited,
    DatabaseUnavailable,
)


@router.post(
    "/hpf/session",
    response_model=HpfSessionResponse,
    responses=responses_for(MalformedBody, *_ERROR_TYPES),
)
async def create_hpf_session(
    body: HpfSessionRequest, response: Response, service: ServiceDep, caller: StorefrontAuthDep
) -> HpfSessionResponse:
    """Start a Hosted Payment Fields session for a cart (the waterfall of ``services.checkout``).

    No Idempotency-Key is kept for it: its answer holds the payment token and JWT, credentials no table (and
    no cache) may store, and a second session moves no money (a retry simply gets a fresh one)."""
    response.headers.update(NO_STORE)
    with answering(caller):
        return await service.checkout.create_hpf_session(body.cart_id, body.payment_session_id, caller)


@router.get("/hpf/session", response_model=HpfSessionResponse, responses=responses_for(*_ERROR_TYPES))
async def get_hpf_session(
    query: Annotated[HpfSessionRequest, Query()],
    response: Response,
    service: ServiceDep,
    caller: StorefrontAuthDep,
) -> HpfSessionResponse:
    """The same session, with the fields as query parameters. A look-up: it never opens a hosted page
    order (a payment intent in the ledger), which takes a POST. A GET is what caches keep: no-store."""
    response.headers.update(NO_STORE)
    with answering(caller):
        return await service.checkout.create_hpf_session(
            query.cart_id, query.payment_session_id, caller, may_open_order=False
        )
