"""Hosted Payment Fields: session creation, the SDK script, the card-field frames and their tokenization."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from netvalve_sandbox.cards import DECLINING_TEST_CARDS, acceptable_card_number
from netvalve_sandbox.hpf import SCRIPT_NAME, SCRIPT_VERSION, issue_jwt, jwt_valid
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.state import HpfSession
from netvalve_sandbox.validation import Errors, card_fields
from netvalve_sandbox.wire import NetvalveJSONResponse, api_timestamp, new_trace_id, now, parse_json_object

TOKENIZE_CARD_FIELDS = ("cardNumber", "expiryMonth", "expiryYear", "cvv")
FIELD_SCRIPT_NAME = "field.sandbox.js"
EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")
CVV = re.compile(r"^\d{3,4}$")


@dataclass(frozen=True)
class _Field:
    label: str
    autocomplete: str
    placeholder: str


FIELDS = {
    "cardNumber": _Field("Card number", "cc-number", "1234 1234 1234 1234"),
    "cardExpiry": _Field("Expiry date", "cc-exp", "MM/YY"),
    "cardCvv": _Field("Security code", "cc-csc", "CVV"),
}
FIELD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{label}</title><link rel="icon" href="data:,">
<style>
html, body {{ margin: 0; padding: 0; height: 100%; background: transparent; }}
#field {{ box-sizing: border-box; width: 100%; height: 100%; padding: 8px 10px;
  font: 16px system-ui, sans-serif;
  border: 1px solid #b8bcc4; border-radius: 4px; background: #fff; color: #1d1f23; }}
#field[aria-invalid="true"] {{ color: #b00020; border-color: #b00020; }}
</style></head>
<body data-field="{name}" data-accepted-cards="{accepted}">
<input id="field" name="{name}" type="text" inputmode="numeric" autocomplete="{autocomplete}"
  placeholder="{placeholder}" aria-label="{label}" spellcheck="false">
<script src="/sdk/{script}"></script>
</body></html>
"""


def _field_value(name: str, value: str) -> tuple[dict[str, str], str | None]:
    """What one field contributes to the card, or the message NetValve's fields show for a bad value."""
    if name == "cardNumber":
        number = re.sub(r"[\s-]", "", value)
        if not acceptable_card_number(number):
            return {}, "Card number is invalid."
        return {"cardNumber": number}, None
    if name == "cardExpiry":
        match = EXPIRY.match(value)
        month = int(match.group(1)) if match else 0
        if match is None or not 1 <= month <= 12:
            return {}, "Expiry date is invalid. Use MM/YY."
        year = match.group(2)
        return {"expiryMonth": f"{month:02d}", "expiryYear": f"20{year}" if len(year) == 2 else year}, None
    if not CVV.match(value):
        return {}, "Security code is invalid."
    return {"cvv": value}, None


def hpf_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(tags=["hosted payment fields"])
    settings, gateway, ledger = sandbox.settings, sandbox.gateway, sandbox.ledger
    field_script = resources.files("netvalve_sandbox").joinpath("static", FIELD_SCRIPT_NAME).read_bytes()
    accepted_cards = escape(json.dumps(sorted(DECLINING_TEST_CARDS)))
    # What each session's frames have tokenized so far; the card exists once all three fields are in.
    field_values: dict[str, dict[str, str]] = {}

    def open_session(token: object, jwt: object) -> HpfSession | Response:
        """The issued, unexpired, unused session ``token`` names (caller holds the ledger lock)."""
        session = ledger.hpf_sessions.get(token) if isinstance(token, str) else None
        if session is None:
            return _failure(404, "Unknown paymentToken.", "paymentToken")
        secret = settings.jwt_secret.get_secret_value()
        forged = jwt is not None and (jwt != session.jwt or not jwt_valid(str(jwt), secret))
        if gateway.hpf_session_expired(session) or forged:
            return _failure(410, "paymentToken expired; initialize a new session.", "paymentToken")
        if session.used:
            return _failure(409, "paymentToken already used for a payment.", "paymentToken")
        return session

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
        return _script(sandbox.script.body)

    @router.get(f"/sdk/{FIELD_SCRIPT_NAME}", include_in_schema=False)
    async def field_frame_script() -> Response:
        return _script(field_script)

    @router.get("/sdk/fields/{name}", include_in_schema=False)
    async def field_frame(name: str) -> Response:
        """One card field, rendered inside the iframe the SDK puts on the merchant's page."""
        field = FIELDS.get(name)
        if field is None:
            return HTMLResponse("<h1>Unknown field</h1>", status_code=404)
        page = FIELD_PAGE.format(
            name=name,
            label=field.label,
            autocomplete=field.autocomplete,
            placeholder=field.placeholder,
            accepted=accepted_cards,
            script=FIELD_SCRIPT_NAME,
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @router.post("/sdk/fields/tokenize", include_in_schema=False)
    async def tokenize_field(request: Request) -> Response:
        """A field frame hands its value over; the third field completes the card behind the token."""
        body = parse_json_object(await request.body())
        name, value = body.get("fieldName"), body.get("value")
        if name not in FIELDS or not isinstance(value, str):
            return _failure(400, "fieldName and value are required.", "fieldName")
        contribution, problem = _field_value(str(name), value.strip())
        if problem is not None:
            return _failure(400, problem, str(name))
        async with ledger.lock:
            session = open_session(body.get("paymentToken"), body.get("jwtToken"))
            if isinstance(session, Response):
                return session
            values = field_values.setdefault(session.token, {})
            values.update(contribution)
            if len(values) == len(TOKENIZE_CARD_FIELDS):
                errors = Errors()
                card = card_fields(dict(values), errors, TOKENIZE_CARD_FIELDS)
                if card is None:
                    return _failure(400, errors.items[0].body()["responseMessage"], str(name))
                session.card = card
        return NetvalveJSONResponse({"success": True, "fieldName": name, "message": "Field tokenized."})

    @router.post("/_sandbox/tokenize", tags=["sandbox"])
    async def tokenize(request: Request) -> Response:
        """Test hook standing in for the card iframes: attach a card to an issued payment token."""
        body = parse_json_object(await request.body())
        async with ledger.lock:
            session = open_session(body.get("paymentToken"), body.get("jwtToken"))
            if isinstance(session, Response):
                return session
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


def _script(body: bytes) -> Response:
    return Response(body, media_type="application/javascript", headers={"Cache-Control": "no-store"})


def _failure(status_code: int, message: str, field: str) -> Response:
    body: dict[str, Any] = {"success": False, "message": message, "fieldName": field}
    return NetvalveJSONResponse(body, status_code=status_code)
