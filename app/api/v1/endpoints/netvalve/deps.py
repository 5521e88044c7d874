"""Dependencies shared by the NetValve routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.services.netvalve_service import NetValveService


def get_netvalve_service(request: Request) -> NetValveService:
    return NetValveService.from_state(request.app.state)


ServiceDep = Annotated[NetValveService, Depends(get_netvalve_service)]
