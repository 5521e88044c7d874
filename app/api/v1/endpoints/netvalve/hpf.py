"""HPF session: how the storefront will collect the card (hosted fields, or a hosted page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

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
from app.schemas.values import MedusaId
from app.services import errors

router = APIRouter()

_ID_SCHEMA = TypeAdapter(MedusaId).json_schema()
# One exploded query object, because OpenAPI can state "exactly one of cart_id and payment_collection_id"
# only on an object; independent optional parameters would document a request with neither as valid.
_QUERY_PARAMETER: dict[str, Any] = {
    "name": "session",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "description": "cart_id or payment_collection_id (exactly one), and optionally payment_session_id.",
    "schema": {
        "type": "object",
        "properties": {
            "cart_id": _ID_SCHEMA,
            "payment_collection_id": _ID_SCHEMA,
            "payment_session_id": _ID_SCHEMA,
        },
        "additionalProperties": False,
        "oneOf": [{"required": ["cart_id"]}, {"required": ["payment_collection_id"]}],
    },
}


async def session_query(request: Request) -> HpfSessionRequest:
    """The query string as an ``HpfSessionRequest``, refused with the same 422 as any invalid request."""
    try:
        return HpfSessionRequest.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("query", *err["loc"])} for err in exc.errors(include_url=False)]
        ) from None


_ERROR_TYPES: tuple[type[AppError], ...] = (
    Unauthenticated,
    Forbidden,
    UnprocessableRequest,
    errors.CartNotFound,
    errors.PaymentCollectionNotFound,
    errors.PaymentSessionNotFound,
    errors.CartCompleted,
    errors.CartAlreadyPaid,
    errors.PaymentCollectionPaid,
    errors.PaymentCollectionCanceled,
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
    """Start a Hosted Payment Fields session for a cart, or for a payment collection of an order that has no
    cart (the waterfall of ``services.checkout``).

    No Idempotency-Key is kept for it: its answer holds the payment token and JWT, credentials no table (and
    no cache) may store, and a second session moves no money (a retry simply gets a fresh one)."""
    response.headers.update(NO_STORE)
    with answering(caller):
        return await service.checkout.create_hpf_session(
            body.cart_id, body.payment_session_id, caller, payment_collection_id=body.payment_collection_id
        )


@router.get(
    "/hpf/session",
    response_model=HpfSessionResponse,
    responses=responses_for(*_ERROR_TYPES),
    openapi_extra={"parameters": [_QUERY_PARAMETER]},
)
async def get_hpf_session(
    query: Annotated[HpfSessionRequest, Depends(session_query)],
    response: Response,
    service: ServiceDep,
    caller: StorefrontAuthDep,
) -> HpfSessionResponse:
    """The same session, with the fields as query parameters. A look-up: it never opens a hosted page
    order (a payment intent in the ledger), which takes a POST. A GET is what caches keep: no-store."""
    response.headers.update(NO_STORE)
    with answering(caller):
        return await service.checkout.create_hpf_session(
            query.cart_id,
            query.payment_session_id,
            caller,
            payment_collection_id=query.payment_collection_id,
            may_open_order=False,
        )
