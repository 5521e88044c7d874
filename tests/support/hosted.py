"""The Hosted Payment Page through the API: the session that sends the shopper there, the shopper on
NetValve's page, and what the ledger recorded."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from app.models import GatewayTransaction, Payment
from devtools.medusa_rows import CartRows
from tests.support.stack import Stack

API = "/api/v1/netvalve"


async def hosted_session(stack: Stack, cart: CartRows) -> dict[str, Any]:
    response = await stack.client.post(
        f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["flow"] == "hpp", body
    return body


async def on_the_page(stack: Stack, session: dict[str, Any], card: str | None) -> str:
    """The shopper on NetValve's page: pays with ``card`` or, without one, cancels. Returns where NetValve
    sends them back."""
    token = parse_qs(urlsplit(session["hpp"]["redirect_url"]).query)["paymentToken"][0]
    form = {"paymentToken": token, "action": "cancel"}
    if card is not None:
        form = {
            "paymentToken": token,
            "cardNumber": card,
            "expiryMonth": "12",
            "expiryYear": "2030",
            "cvv": "999",
        }
        form["action"] = "pay"
    page = await stack.nv.post("/checkout/complete", data=form)
    assert page.status_code == 303, page.text
    return page.headers["location"]


async def payment_and_calls(stack: Stack, cart: CartRows) -> tuple[Payment, list[GatewayTransaction]]:
    async with stack.app.state.sessionmaker() as db:
        payment = (await db.execute(select(Payment).where(Payment.cart_id == cart.cart_id))).scalar_one()
        calls = (
            await db.execute(
                select(GatewayTransaction)
                .where(GatewayTransaction.payment_id == payment.id)
                .order_by(GatewayTransaction.id)
            )
        ).scalars()
        return payment, list(calls)
