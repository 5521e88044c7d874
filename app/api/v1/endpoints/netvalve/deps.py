"""Dependencies shared by the NetValve routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.repositories.medusa import MedusaReader
from app.services.netvalve_service import NetValveService


def get_netvalve_service(request: Request) -> NetValveService:
    state = request.app.state
    return NetValveService(state.settings, state.sessionmaker, MedusaReader(state.medusa_pool), state.gateway)


ServiceDep = Annotated[NetValveService, Depends(get_netvalve_service)]
