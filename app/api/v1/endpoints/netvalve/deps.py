"""Dependencies shared by the NetValve routes, and the one way a service's answer becomes a response."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from app.core.errors import AppError
from app.core.security import Caller, CallerKind
from app.runtime import netvalve_service
from app.services import errors
from app.services.netvalve_service import NetValveService
from app.services.views import Answer

# For answers that carry a payment token, a JWT or a 3-D Secure challenge URL: no cache (a shared proxy's or
# the browser's back-forward one) may keep them.
NO_STORE = {"Cache-Control": "no-store"}


async def get_netvalve_service(request: Request) -> NetValveService:
    # Async, as every dependency here: FastAPI runs a plain ``def`` one on a worker thread, a hand-off
    # that costs more than the function.
    return netvalve_service(request.app.state)


ServiceDep = Annotated[NetValveService, Depends(get_netvalve_service)]


def answer_response(answer: Answer[Any]) -> Response:
    """200 for a settled outcome, 202 while NetValve has yet to tell (reconciliation settles it)."""
    return Response(
        answer.body.model_dump_json(),
        status_code=202 if answer.is_open else 200,
        media_type="application/json",
        headers=NO_STORE,
    )


@contextmanager
def answering(caller: Caller) -> Iterator[None]:
    """Errors raised inside, as ``caller`` may hear them: a storefront gets ``errors.for_storefront``.

    Used inside an idempotent handler, so that the answer a key stores is already the storefront's."""
    try:
        yield
    except AppError as exc:
        safe = errors.for_storefront(exc) if caller.kind is CallerKind.STOREFRONT else exc
        if safe is exc:
            raise
        raise safe from None
