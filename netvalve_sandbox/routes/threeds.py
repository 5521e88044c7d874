"""3-D Secure v2: initialization, authentication after device data, result after the challenge, and the
pages the shopper's browser opens (the challenge with "Complete" and "Fail", the device-data frame)."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from netvalve_sandbox.codes import MESSAGES
from netvalve_sandbox.errors import Refused
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.threeds import (
    ACS_NOT_COMPLETED_CODE,
    AUTHENTICATION_FAILED_CODE,
    NOT_FOUND_CODE,
    PROVIDER_ERROR_CODE,
    SUCCESS,
    Flow,
    Stage,
    ThreeDSSession,
)
from netvalve_sandbox.validation import (
    CUSTOMER_FIELDS,
    Errors,
    amount_field,
    card_fields,
    currency_field,
    routing_fields,
)
from netvalve_sandbox.wire import NetvalveJSONResponse, api_timestamp, new_trace_id, now, parse_json_object

THREEDS_VERSION = "2.2.0"
BROWSER_FIELDS = (
    "userAgent",
    "browserHeader",
    "browserLanguage",
    "browserColorDepth",
    "browserScreenHeight",
    "browserScreenWidth",
    "browserTimeZone",
)
# What /3ds/result reports for each stage of the challenge.
RESULT_STATUS = {Stage.ACS_COMPLETED: "COMPLETED", Stage.ACS_FAILED: "RESULT_FAILED"}
# NetValve's v2 3DS authentication guide marks these required (with `amount`, `currency` and `transID`).
AUTHENTICATION_NAMES = ("customerName", "customerLastName")
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
CARD_HOLDER_NAME_MAX = 128
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
<style>
body {{ font: 16px system-ui, sans-serif; margin: 0; padding: 1rem; background: #fff; color: #1d1f23; }}
.actions {{ display: flex; gap: 0.75rem; margin-top: 1rem; }}
button {{ flex: 1; padding: 0.6rem; font: inherit; }}
.sandbox {{ font-size: 0.8rem; color: #5b606b; }}
</style></head><body>{body}</body></html>
"""
CHALLENGE_FORM = """<h1>Verify your payment</h1>
<p>Your bank asks you to confirm a payment of <strong>{amount} {currency}</strong>
with card ending {last4}.</p>
<form method="post" action="/3ds/challenge">
  <input type="hidden" name="token" value="{token}">
  <div class="actions">
    <button type="submit" name="action" value="complete" id="threeds-complete">Complete</button>
    <button type="submit" name="action" value="fail" id="threeds-fail">Fail</button>
  </div>
</form>
<p class="sandbox">NetValve sandbox: the issuer's 3-D Secure challenge.</p>"""
POST_TO_PARENT = """<p id="threeds-done">{text}</p>
<script>(function () {{
  var message = {message};
  (window.parent || window).postMessage(message, "*");
}})();</script>"""


def _provider(session: ThreeDSSession, sandbox: Sandbox, status: str) -> dict[str, Any]:
    authenticated = status in ("AUTHENTICATED", "COMPLETED")
    url = None
    if session.stage is Stage.ACS_REQUIRED:
        url = f"{sandbox.public_url}/3ds/challenge?{urlencode({'token': session.page_token})}"
    elif session.stage is Stage.INITIALIZED:
        url = f"{sandbox.public_url}/3ds/device-data?{urlencode({'token': session.page_token})}"
    failed = status in ("AUTHENTICATION_FAILED", "RESULT_FAILED")
    return {
        "transID": session.trans_id,
        "referenceId": session.page_token[:12],
        "threeDs2TransactionId": session.ds_transaction_id,
        "eci": session.eci if authenticated else ("07" if failed else None),
        "cavv": session.cavv if authenticated else None,
        "challengeRequired": session.stage is Stage.ACS_REQUIRED,
        "redirectUrl": url,
        "status": status,
        "threeDsVersion": THREEDS_VERSION,
        "errorCode": AUTHENTICATION_FAILED_CODE if failed else None,
        "errorMessage": "Authentication failed by the issuer." if failed else None,
    }


def _envelope(provider: dict[str, Any]) -> Response:
    return NetvalveJSONResponse(
        {
            "traceID": new_trace_id(),
            "responseTimestamp": api_timestamp(now()),
            "responseCode": SUCCESS,
            "responseMessage": "3DS Request Successful.",
            "responseCodeType": "APPROVED",
            "threeDSProviderResponse": provider,
        }
    )


def _not_completed(provider: dict[str, Any]) -> Response:
    """`3DS_2011` as NetValve's 3DS error answers look: no `responseCodeType`, the provider's status kept,
    and no `redirectUrl` (NetValve documents none on the result answer)."""
    return NetvalveJSONResponse(
        {
            "traceID": new_trace_id(),
            "responseTimestamp": api_timestamp(now()),
            "responseCode": ACS_NOT_COMPLETED_CODE,
            "responseMessage": MESSAGES[ACS_NOT_COMPLETED_CODE],
            "threeDSProviderResponse": provider | {"redirectUrl": None},
        }
    )


def _card_holder_name(body: dict[str, Any], errors: Errors) -> str | None:
    value = body.get("cardHolderName")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > CARD_HOLDER_NAME_MAX:
        errors.add("GTW_2063", "cardHolderName", "cardHolderName can have 128 characters max.")
        return None
    return value


def _authentication_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The fields `/3ds/authentication` requires, checked as NetValve would; what it received otherwise."""
    errors = Errors()
    amount = amount_field(body, errors)
    currency = currency_field(body, errors)
    routing_fields(body, errors)
    for name in AUTHENTICATION_NAMES:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.add("GTW_2063", name, f"{name} is required.")
    country = body.get("customerCountryCode")
    if not isinstance(country, str) or not COUNTRY_CODE.match(country):
        errors.add("GTW_2063", "customerCountryCode", "customerCountryCode must be a two-letter ISO code.")
    holder = _card_holder_name(body, errors)
    errors.raise_if_any()
    received = {name: body[name] for name in CUSTOMER_FIELDS if body.get(name) not in (None, "")}
    if holder is not None:
        received["cardHolderName"] = holder
    return {"amount": amount, "currency": currency} | received


def _trans_id(body: dict[str, Any]) -> str:
    value = body.get("transID")
    if not isinstance(value, str) or not value:
        errors = Errors()
        errors.add("GTW_2063", "transID", "transID is required.")
        errors.raise_if_any()
    assert isinstance(value, str)
    return value


def threeds_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(tags=["3-D Secure"])
    gateway, ledger = sandbox.gateway, sandbox.ledger

    def find(trans_id: str) -> ThreeDSSession:
        session = ledger.threeds_sessions.get(trans_id)
        if session is None:
            raise Refused(NOT_FOUND_CODE, status_code=404)
        return session

    def page_session(token: str) -> ThreeDSSession | None:
        trans_id = ledger.threeds_by_page.get(token)
        return None if trans_id is None else ledger.threeds_sessions.get(trans_id)

    @router.post("/3ds/v2/initialization", dependencies=[Depends(sandbox.api_auth)])
    async def initialization(request: Request) -> Response:
        """Start 3DS v2 for a card or token: frictionless, challenge or device data, by test card."""
        body = parse_json_object(await request.body())
        errors = Errors()
        amount = amount_field(body, errors)
        currency = currency_field(body, errors)
        routing_fields(body, errors)
        for name in BROWSER_FIELDS:
            if body.get(name) in (None, ""):
                errors.add("GTW_2063", name, f"{name} is required.")
        token = body.get("paymentToken")
        card = None if isinstance(token, str) and token else card_fields(body, errors)
        holder = _card_holder_name(body, errors)
        errors.raise_if_any()
        redirect = body.get("merchantRedirectUrl")
        async with ledger.lock:
            if card is None:
                assert isinstance(token, str)
                card = gateway.resolve_token(token)
            session = ThreeDSSession.start(
                card, amount, currency, redirect if isinstance(redirect, str) and redirect else None, holder
            )
            if session.flow is Flow.PROVIDER_ERROR:
                raise Refused(PROVIDER_ERROR_CODE)
            ledger.threeds_sessions[session.trans_id] = session
            ledger.threeds_by_page[session.page_token] = session.trans_id
            return _envelope(_provider(session, sandbox, session.stage.value))

    @router.post("/3ds/authentication", dependencies=[Depends(sandbox.api_auth)])
    async def authentication(request: Request) -> Response:
        """After the device-data frame: a challenge or an authentication, by test card."""
        body = parse_json_object(await request.body())
        trans_id = _trans_id(body)
        received = _authentication_fields(body)
        async with ledger.lock:
            session = find(trans_id)
            session.authentication = received
            session.authenticate_after_device_data()
            return _envelope(_provider(session, sandbox, session.stage.value))

    @router.post("/3ds/result", dependencies=[Depends(sandbox.api_auth)])
    async def result(request: Request) -> Response:
        """After the challenge: COMPLETED with eci/cavv, or RESULT_FAILED; `3DS_2011` while unanswered."""
        trans_id = _trans_id(parse_json_object(await request.body()))
        async with ledger.lock:
            session = find(trans_id)
            status = RESULT_STATUS.get(session.stage, session.stage.value)
            if session.stage is Stage.ACS_REQUIRED:
                return _not_completed(_provider(session, sandbox, status))
            return _envelope(_provider(session, sandbox, status))

    @router.get("/3ds/challenge", response_class=HTMLResponse)
    async def challenge(token: Annotated[str, Query()] = "") -> Response:
        """The issuer's challenge, in the storefront's frame or as the whole page."""
        async with ledger.lock:
            session = page_session(token)
            if session is None or session.stage is not Stage.ACS_REQUIRED:
                return HTMLResponse(PAGE.format(title="3-D Secure", body="<h1>Unknown challenge</h1>"), 404)
            form = CHALLENGE_FORM.format(
                amount=session.amount,
                currency=escape(session.currency),
                last4=session.card.number[-4:],
                token=escape(token),
            )
            return HTMLResponse(PAGE.format(title="3-D Secure challenge", body=form))

    @router.post("/3ds/challenge", response_class=HTMLResponse)
    async def answer(request: Request) -> Response:
        """Complete or fail, then tell the merchant as NetValve does: postMessage, or the redirect."""
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        async with ledger.lock:
            session = page_session(form.get("token", ""))
            if session is None:
                return HTMLResponse(PAGE.format(title="3-D Secure", body="<h1>Unknown challenge</h1>"), 404)
            session.answer_challenge(form.get("action") == "complete")
        passed = session.stage is Stage.ACS_COMPLETED
        result = "SUCCESS" if passed else "FAILED"
        status = "ACS_COMPLETED" if passed else "ACS_FAILED"
        if session.merchant_redirect_url:
            query = urlencode({"result": result, "transID": session.trans_id, "threeDsStatus": status})
            separator = "&" if "?" in session.merchant_redirect_url else "?"
            return RedirectResponse(f"{session.merchant_redirect_url}{separator}{query}", status_code=303)
        message = {
            "result": result,
            "threeDsResponse": {
                "status": status,
                "transID": session.trans_id,
                "providerErrorMessage": None if passed else "Authentication failed by the issuer.",
            },
        }
        text = "Verified. Returning to the store…" if passed else "Not verified. Returning to the store…"
        done = POST_TO_PARENT.format(text=text, message=json.dumps(message))
        return HTMLResponse(PAGE.format(title="3-D Secure", body=done))

    @router.get("/3ds/device-data", response_class=HTMLResponse)
    async def device_data(token: Annotated[str, Query()] = "") -> Response:
        """The hidden device-data frame: collects (nothing, in the sandbox) and posts back to its parent."""
        async with ledger.lock:
            session = page_session(token)
            if session is None:
                return HTMLResponse(PAGE.format(title="3-D Secure", body="<h1>Unknown session</h1>"), 404)
            session.device_data_collected = True
        message = {
            "result": "SUCCESS",
            "threeDsResponse": {"status": "DEVICE_DATA_COLLECTED", "transID": session.trans_id},
        }
        done = POST_TO_PARENT.format(text="Device data collected.", message=json.dumps(message))
        return HTMLResponse(PAGE.format(title="3-D Secure", body=done))

    return router
