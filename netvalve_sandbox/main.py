"""Application factory and console entry point (`netvalve-sandbox`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.responses import Response

from netvalve_sandbox.errors import Refused, ValidationFailed
from netvalve_sandbox.faults import FaultMiddleware
from netvalve_sandbox.routes.backoffice import backoffice_router
from netvalve_sandbox.routes.control import control_router
from netvalve_sandbox.routes.hpf import hpf_router
from netvalve_sandbox.routes.hpp import hpp_router
from netvalve_sandbox.routes.payments import payments_router
from netvalve_sandbox.routes.threeds import threeds_router
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.settings import SandboxSettings
from netvalve_sandbox.wire import NetvalveJSONResponse, status_body


async def _validation_failed(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationFailed)
    return NetvalveJSONResponse([error.body() for error in exc.errors], status_code=400)


async def _refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return NetvalveJSONResponse(status_body(exc.code), status_code=exc.status_code)


def create_app(
    settings: SandboxSettings | None = None, webhook_client: httpx.AsyncClient | None = None
) -> FastAPI:
    """Build a sandbox; state lives in the returned app. `webhook_client` is used as is and never closed."""
    sandbox = Sandbox(settings or SandboxSettings(), webhook_client)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await sandbox.aclose()

    app = FastAPI(
        title="NetValve sandbox",
        description="Stateful local stand-in for the NetValve card gateway.",
        version="1.0.0",
        lifespan=lifespan,
        default_response_class=NetvalveJSONResponse,
    )
    app.state.sandbox = sandbox
    app.add_exception_handler(ValidationFailed, _validation_failed)
    app.add_exception_handler(Refused, _refused)
    for router in (
        payments_router(sandbox),
        threeds_router(sandbox),
        hpf_router(sandbox),
        hpp_router(sandbox),
        backoffice_router(sandbox),
        control_router(sandbox),
    ):
        app.include_router(router)
    app.add_middleware(FaultMiddleware, controller=sandbox.faults)
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "PUT"], allow_headers=["*"]
    )
    return app


def sandbox_of(app: FastAPI) -> Sandbox:
    """The sandbox behind an app from `create_app`, e.g. to `await sandbox_of(app).aclose()` in tests."""
    sandbox = app.state.sandbox
    if not isinstance(sandbox, Sandbox):
        raise TypeError("not a sandbox app")
    return sandbox


app = create_app()


def run() -> None:
    """Console script: serve the sandbox on `SANDBOX_HOST`:`SANDBOX_PORT` (default 127.0.0.1:8081)."""
    settings = SandboxSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
