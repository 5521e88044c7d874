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
<html lang="en"><head><meta charset="utf-8"><title>NetValve sandbox checkout</title></head>
<body>
<h1>NetValve sandbox checkout</h1>
<p>Order {order_id} &middot; {client_order_id} &middot; <strong>{amount} {currency}</strong></p>
{notice}
<form method="post" action="/checkout/complete">
  <input type="hidden" name="paymentToken" value="{token}">
  <label>Card number <input name="cardNumber" value="{card_number}" autocomplete="off"></label>
  <label>Expiry month <input name="expiryMonth" value="12" size="2"></label>
  <label>Expiry year <input name="expiryYear" value="2030" size="4"></label>
  <label>CVV <input name="cvv" value="999" size="4"></label>
  <label>Card holder <input name="cardHolderName" value="Sandbox Tester"></label>
  <button type="submit" name="action" value="pay">Pay</button>
  <button type="submit" name="action" value="cancel">Cancel</button>
</form>
</body></html>
"""


def _page(order: Order, token: str, notice: str = "", card_number: str = "4012000098765439") -> str:
    return PAGE.format(
        order_id=order.id,
        client_order_id=escape(order.client_order_id or ""),
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
