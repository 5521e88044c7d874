"""Payment status in Medusa's vocabulary: from NetValve while the outcome is open, else from the ledger."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from app.api.auth import AnyCaller
from app.api.v1.endpoints.netvalve.deps import ServiceDep, answering
from app.core.errors import (
    DatabaseUnavailable,
    Forbidden,
    RateLimited,
    Unauthenticated,
    UnprocessableRequest,
    responses_for,
)
from app.core.security import CallerKind
from app.schemas.netvalve import StatusRequest, StatusResponse, StorefrontStatusResponse
from app.schemas.values import MAX_SAFE_INTEGER, MedusaId
from app.services import errors

router = APIRouter()

# The identifiers are one exploded query object, because OpenAPI can state "at least one of them" only on an
# object; three independent optional parameters would document a request without any as valid.
_IDENTIFIERS_PARAMETER: dict[str, Any] = {
    "name": "identifiers",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "description": (
        "At least one of transaction_id, payment_session_id, cart_id and payment_collection_id (not both of "
        "the last two), as query parameters."
    ),
    "schema": {
        "type": "object",
        "properties": {
            "transaction_id": {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER},
            "payment_session_id": TypeAdapter(MedusaId).json_schema(),
            "cart_id": TypeAdapter(MedusaId).json_schema(),
            "payment_collection_id": TypeAdapter(MedusaId).json_schema(),
        },
        "additionalProperties": False,
        "minProperties": 1,
        "not": {"required": ["cart_id", "payment_collection_id"]},
    },
}


async def status_query(request: Request) -> StatusRequest:
    """The query string as a ``StatusRequest``, refused with the same 422 as any other invalid request."""
    identifiers = {key: value for key, value in request.query_params.items() if key != "refresh"}
    try:
        return StatusRequest.model_validate(identifiers)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("query", *err["loc"])} for err in exc.errors(include_url=False)]
        ) from None


@router.get(
    "/status",
    response_model=StatusResponse | StorefrontStatusResponse,
    responses=responses_for(
        Unauthenticated,
        Forbidden,
        UnprocessableRequest,
        errors.PaymentNotFound,
        errors.PaymentAmountMismatch,
        errors.TransactionIdNotForStorefront,
        RateLimited,
        DatabaseUnavailable,
    ),
    openapi_extra={"parameters": [_IDENTIFIERS_PARAMETER]},
)
async def status(
    query: Annotated[StatusRequest, Depends(status_query)],
    service: ServiceDep,
    caller: AnyCaller,
    refresh: Annotated[
        bool,
        Query(description="Ask NetValve even for a settled payment (service key only; ignored otherwise)."),
    ] = False,
) -> StatusResponse | StorefrontStatusResponse:
    """A service key sees amounts and ids; a publishable key sees only the status, of its own sales
    channels' carts and orders, and no amount even in an error.

    A payment whose outcome is open (pending, unknown, an operation in flight) is looked up in NetValve; a
    settled one answers from the ledger, which webhooks and reconciliation keep current, so that polling
    never turns into gateway traffic. ``refresh=true`` with the service key asks NetValve anyway."""
    if query.transaction_id is not None and caller.kind is not CallerKind.SERVICE:
        # NetValve's ids are sequential: a storefront could walk them. It names its own cart or session.
        raise errors.TransactionIdNotForStorefront()
    with answering(caller):
        result = await service.reconciliation.status(
            query.transaction_id,
            query.payment_session_id,
            query.cart_id,
            refresh=refresh and caller.kind is CallerKind.SERVICE,
            caller=caller,
            payment_collection_id=query.payment_collection_id,
        )
    if caller.kind is CallerKind.SERVICE:
        return result
    return StorefrontStatusResponse(status=result.status, source=result.source)
