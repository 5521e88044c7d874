"""Payment status in Medusa's vocabulary, fresh from NetValve when it answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.v1.endpoints.netvalve.deps import ServiceDep
from app.core.errors import Forbidden, Unauthenticated, UnprocessableRequest, responses_for
from app.core.security import AnyCaller, CallerKind
from app.schemas.netvalve import StatusRequest, StatusResponse, StorefrontStatusResponse
from app.services import errors

router = APIRouter()


@router.get(
    "/status",
    response_model=StatusResponse | StorefrontStatusResponse,
    responses=responses_for(Unauthenticated, Forbidden, UnprocessableRequest, errors.PaymentNotFound),
)
async def status(
    query: Annotated[StatusRequest, Query()], service: ServiceDep, caller: AnyCaller
) -> StatusResponse | StorefrontStatusResponse:
    """A service key sees amounts and ids; a publishable key sees only the status."""
    result = await service.status(query.transaction_id, query.payment_session_id, query.cart_id)
    if caller.kind is CallerKind.SERVICE:
        return result
    return StorefrontStatusResponse(status=result.status, source=result.source)
