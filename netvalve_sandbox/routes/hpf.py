"""Hosted Payment Fields: session creation, the stub SDK script and the sandbox tokenize hook."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from netvalve_sandbox.hpf import SCRIPT_NAME, SCRIPT_VERSION, issue_jwt, jwt_valid
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.validation import Errors, card_fields
from netvalve_sandbox.wire import NetvalveJSONResponse, api_timestamp, new_trace_id, now, parse_json_object

TOKENIZE_CARD_FIELDS = ("cardNumber", "expiryMonth", "expiryYear", "cvv")


def hpf_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(tags=["hosted payment fields"])
    settings, gateway, ledger = sandbox.settings, sandbox.gateway, sandbox.ledger

    @router.get("/hpf/initializeSession", dependencies=[Depends(sandbox.api_auth)])
    async def initialize_session() -> Response:
        """Issue a payment token and the script URL that renders the card fields (`GTW_1003`)."""
        jwt = issue_jwt(settings.jwt_secret.get_secret_value(), settings.hpf_token_ttl_seconds)
        async with ledger.lock:
            session = gateway.issue_hpf_session(jwt)
        query = urlencode({"version": SCRIPT_VERSION, "paymentToken": session.token, "jwtToken": jwt})
        return NetvalveJSONResponse(
            {
                "traceID": new_trace_id(),
                "responseTimestamp": api_timestamp(now()),
                "responseCode": "GTW_1003",
                "responseMessage": "Hosted Payment Fields Token Created Successful.",
                "responseCodeType": "APPROVED",
                "netvalveScriptSrc": f"{sandbox.public_url}/sdk/{SCRIPT_NAME}?{query}",
                "version": SCRIPT_VERSION,
                "integrity": sandbox.script.integrity,
                "paymentToken": session.token,
                "jwtToken": jwt,
            }
        )

    @router.get(f"/sdk/{SCRIPT_NAME}", include_in_schema=False)
    async def sdk_script() -> Response:
        return Response(
            sandbox.script.body,
            media_type="application/javascript",
            headers={"Cache-Control": "no-store"},
        )

    @router.post("/_sandbox/tokenize", tags=["sandbox"])
    async def tokenize(request: Request) -> Response:
        """Test hook standing in for the card iframes: attach a card to an issued payment token."""
        body = parse_json_object(await request.body())
        token = body.get("paymentToken")
        jwt = body.get("jwtToken")
        async with ledger.lock:
            session = ledger.hpf_sessions.get(token) if isinstance(token, str) else None
            if session is None:
                return _failure(404, "Unknown paymentToken.", "paymentToken")
            secret = settings.jwt_secret.get_secret_value()
            forged = jwt is not None and (jwt != session.jwt or not jwt_valid(str(jwt), secret))
            if gateway.hpf_session_expired(session) or forged:
                return _failure(410, "paymentToken expired; initialize a new session.", "paymentToken")
            if session.used:
                return _failure(409, "paymentToken already used for a payment.", "paymentToken")
            errors = Errors()
            card = card_fields(body, errors, TOKENIZE_CARD_FIELDS)
            if card is None:
                first = errors.items[0]
                return _failure(400, first.body()["responseMessage"], first.field)
            session.card = card
        return NetvalveJSONResponse(
            {
                "success": True,
                "paymentToken": session.token,
                "cardType": card.brand,
                "cardNumber": card.masked,
                "message": "All fields tokenized.",
            }
        )

    return router


def _failure(status_code: int, message: str, field: str) -> Response:
    return NetvalveJSONResponse(
        {"success": False, "message": message, "fieldName": field}, status_code=status_code
    )
