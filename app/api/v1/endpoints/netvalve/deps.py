"""Dependencies shared by the NetValve routes, and the one way a service's answer becomes a response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from app.runtime import netvalve_service
from app.services.netvalve_service import NetValveService
from app.services.views import Answer


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
    )
