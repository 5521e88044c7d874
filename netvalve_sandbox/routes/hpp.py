"""Hosted Payment Page: order creation and a minimal checkout page that pays with a test card."""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from netvalve_sandbox.errors import Refused
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.state import Order
from netvalve_sandbox.validation import Errors, card_fields, hpp_order_request
from netvalve_sandbox.wire import (
    NetvalveJSONResponse,
    api_timestamp,
    money,
    new_trace_id,
    now,
    parse_json_object,
)

CHECKOUT_CARD_FIELDS = ("cardNumber", "expiryMonth", "expiryYear", "cvv")
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NetValve checkout</title><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 16px system-ui, sans-serif; background: #f3f4f6; color: #1d1f23; margin: 0; }}
main {{ max-width: 26rem; margin: 2rem auto; background: #fff; padding: 1.5rem; border-radius: 8px; }}
label {{ display: block; margin: 0.75rem 0 0.25rem; font-size: 0.9rem; }}
input {{ box-sizing: border-box; width: 100%; padding: 0.5rem; font: inherit; }}
.row {{ display: flex; gap: 0.75rem; }} .row > div {{ flex: 1; }}
.actions {{ display: flex; gap: 0.75rem; margin-top: 1.25rem; }}
button {{ flex: 1; padding: 0.6rem; font: inherit; }}
[role=alert] {{ color: #b00020; }} .sandbox {{ font-size: 0.8rem; color: #5b606b; }}
</style></head>
<body><main>
<h1>NetValve checkout</h1>
<p>{merchant} &middot; order {order_id}</p>
<p>Amount to pay: <strong id="amount">{amount} {currency}</strong></p>
{notice}
<form method="post" action="/checkout/complete" id="hpp-form">
  <input type="hidden" name="paymentToken" value="{token}">
  <label for="cardHolderName">Name on card</label>
  <input id="cardHolderName" name="cardHolderName" autocomplete="cc-name">
  <label for="cardNumber">Card number</label>
  <input id="cardNumber" name="cardNumber" value="{card_number}" inputmode="numeric" autocomplete="cc-number">
  <div class="row">
    <div><label for="expiryMonth">Month (MM)</label>
      <input id="expiryMonth" name="expiryMonth" inputmode="numeric" maxlength="2"
        autocomplete="cc-exp-month"></div>
    <div><label for="expiryYear">Year (YYYY)</label>
      <input id="expiryYear" name="expiryYear" inputmode="numeric" maxlength="4"
        autocomplete="cc-exp-year"></div>
    <div><label for="cvv">CVV</label>
      <input id="cvv" name="cvv" inputmode="numeric" maxlength="4" autocomplete="cc-csc"></div>
  </div>
  <div class="actions">
    <button type="submit" name="action" value="pay">Pay {amount} {currency}</button>
    <button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
  </div>
</form>
<p class="sandbox">Sandbox: 4012 0000 9876 5439 approves, 4000 0000 0000 9995 declines; any future expiry.</p>
</main></body></html>
"""


def _page(order: Order, token: str, notice: str = "", card_number: str = "") -> str:
    return PAGE.format(
        merchant="NetValve Sandbox Merchant",
        order_id=order.id,
        amount=money(order.amount),
        currency=escape(order.currency),
        notice=f'<p role="alert">{escape(notice)}</p>' if notice else "",
        token=escape(token),
        card_number=escape(card_number),
    )


def hpp_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(tags=["hosted payment page"])
    gateway, ledger = sandbox.gateway, sandbox.ledger

    @router.post("/hpp/order", dependencies=[Depends(sandbox.api_auth)])
    async def create_order(request: Request) -> Response:
        """Create an order and return the checkout `redirectUrl`."""
        body = hpp_order_request(parse_json_object(await request.body()))
        async with ledger.lock:
            order = gateway.create_hpp_order(body)
        assert order.hpp is not None
        query = urlencode({"paymentToken": order.hpp.token, "language": "en"})
        routing = order.routing
        return NetvalveJSONResponse(
            {
                "traceID": new_trace_id(),
                "responseTimestamp": api_timestamp(now()),
                "orderId": order.id,
                "transactionID": None,
                "responseCode": "GTW_1000",
                "responseMessage": "Transaction Approved/ Request Successful.",
                "responseCodeType": "APPROVED",
                "orderState": "CREATED",
                "redirectUrl": f"{sandbox.public_url}/checkout?{query}",
                "clientOrderId": order.client_order_id,
                "amount": order.amount,
                "currency": order.currency,
                "midId": routing.mid_id if routing.mid_id is not None else sandbox.settings.mid_id,
                "netvalveMidId": routing.netvalve_mid_id or sandbox.settings.netvalve_mid_id,
                "siteId": routing.site_id,
                "merchantName": "NetValve Sandbox Merchant",
                "clientId": sandbox.settings.client_id,
                "isRetryAllowed": True,
                "hppIFrameSupported": True,
            }
        )

    @router.get("/checkout", response_class=HTMLResponse)
    async def checkout(token: Annotated[str, Query(alias="paymentToken")] = "") -> Response:
        """The payment page the shopper is redirected to."""
        async with ledger.lock:
            order = gateway.hpp_order(token)
            if order is None:
                return HTMLResponse("<h1>Unknown or expired checkout</h1>", status_code=404)
            paid = ledger.order_state(order) in {"PAID", "PENDING"}
            return HTMLResponse(_page(order, token, "This order is already paid." if paid else ""))

    @router.post("/checkout/complete", response_class=HTMLResponse)
    async def complete(request: Request) -> Response:
        """Pay or cancel, then redirect (303) to the merchant's success, pending, failed or cancel URL."""
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        token = form.get("paymentToken", "")
        async with ledger.lock:
            order = gateway.hpp_order(token)
            if order is None or order.hpp is None:
                return HTMLResponse("<h1>Unknown or expired checkout</h1>", status_code=404)
            page = order.hpp
            if form.get("action") == "cancel":
                return RedirectResponse(page.cancel_url, status_code=303)
            errors = Errors()
            card = card_fields(dict(form), errors, CHECKOUT_CARD_FIELDS)
            if card is None:
                notice = "; ".join(error.body()["responseMessage"] for error in errors.items)
                return HTMLResponse(_page(order, token, notice, form.get("cardNumber", "")), status_code=400)
            try:
                txn = gateway.pay_hpp_order(order, card)
            except Refused as refused:
                return HTMLResponse(
                    _page(order, token, f"{refused.code}: order already paid."), status_code=409
                )
        if txn.outcome.approved:
            target = page.success_url
        elif txn.outcome.pending:
            target = page.pending_url or page.success_url
        else:
            target = page.failed_url
        return RedirectResponse(target, status_code=303)

    return router
