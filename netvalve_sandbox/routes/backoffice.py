"""The two backoffice endpoints third-party integrations call (undocumented by NetValve)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from netvalve_sandbox.hpf import SCRIPT_NAME, SCRIPT_VERSION
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.wire import NetvalveJSONResponse, api_timestamp, now, parse_json_object


def backoffice_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(prefix="/backoffice", tags=["backoffice"])
    started = api_timestamp(now())

    @router.post("/users/sign-in")
    async def sign_in(request: Request) -> Response:
        """Exchange the backoffice user name and password for a bearer token."""
        body = parse_json_object(await request.body())
        async with sandbox.ledger.lock:
            token = sandbox.backoffice_auth.sign_in(body.get("userName"), body.get("password"))
        expires_in = sandbox.settings.backoffice_token_ttl_seconds
        return NetvalveJSONResponse({"accessToken": token, "tokenType": "Bearer", "expiresIn": expires_in})

    @router.get("/hpf/script", dependencies=[Depends(sandbox.backoffice_auth)])
    async def hpf_scripts() -> Response:
        """Configured HPF scripts: the active default and a deleted older one, to exercise selection."""
        script = sandbox.script
        return NetvalveJSONResponse(
            [
                {
                    "id": 2,
                    "netvalveScriptSrc": f"{sandbox.public_url}/sdk/{SCRIPT_NAME}",
                    "integrity": script.integrity,
                    "clientVersion": SCRIPT_VERSION,
                    "status": "ACTIVE",
                    "deleted": False,
                    "isDefault": True,
                    "createdDate": started,
                },
                {
                    "id": 1,
                    "netvalveScriptSrc": f"{sandbox.public_url}/sdk/index.retired.js",
                    "integrity": "sha384-retired",
                    "clientVersion": "retired",
                    "status": "INACTIVE",
                    "deleted": True,
                    "isDefault": False,
                    "createdDate": "2024-01-01T00:00:00.000+00:00",
                },
            ]
        )

    return router
