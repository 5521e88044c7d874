"""The Hosted Payment Page path end to end: the order is a payment in the ledger before NetValve hears of it,
and whatever the shopper does on the page (pay, cancel, fail) reaches the ledger, /status and Medusa."""

from __future__ import annotations

from decimal import Decimal

import httpx
from sqlalchemy import select

from app.models import WebhookOutbox
from app.runtime import process_due_webhooks
from devtools.medusa_rows import CartRows, complete_cart
from devtools.netvalve_events import event_body
from tests.conftest import WEBHOOK_HEADER, WEBHOOK_SECRET
from tests.support.hosted import hosted_session, on_the_page, payment_and_calls
from tests.support.stack import APPROVED_CARD, DECLINED_CARD, Stack, dec

API = "/api/v1/netvalve"


async def _status(stack: Stack, cart: CartRows) -> httpx.Response:
    return await stack.client.get(f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.storefront)


async def test_the_hosted_order_is_a_payment_in_the_ledger_before_netvalve_hears_of_it(hosted: Stack) -> None:
    cart = await hosted.cart(amount=Decimal("31.50"))
    await hosted_session(hosted, cart)

    payment, calls = await payment_and_calls(hosted, cart)
    assert (payment.status, payment.amount_minor, payment.operation_in_flight) == ("pending", 3150, "sale")
    [call] = calls
    assert (call.operation, call.outcome) == ("sale", "pending")
    assert call.request_reference == payment.client_order_id
    assert call.request_reference.endswith("-hpp")
    order = await hosted.nv.get(
        "/order",
        params={"clientOrderId": payment.client_order_id},
        headers={"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"},
    )
    assert order.status_code == 200, order.text
    assert dec(order.json()["orderAmount"]) == Decimal("31.50")
    assert (await _status(hosted, cart)).json()["status"] == "pending"


async def test_paid_on_the_page_the_webhook_resolves_it_by_reference_and_medusa_hears_captured(
    hosted: Stack,
) -> None:
    cart = await hosted.cart(amount=Decimal("31.50"))
    back = await on_the_page(hosted, await hosted_session(hosted, cart), APPROVED_CARD)
    assert back.startswith("https://shop.example.com")

    [sale] = [t for t in await hosted.sandbox_transactions() if t["type"] == "SALE"]
    event = event_body(
        "PURCHASED", transaction_id=sale["transactionID"], client_order_id=sale["clientOrderId"]
    )
    delivered = await hosted.client.post(
        f"{API}/webhook", json=event, headers={WEBHOOK_HEADER: WEBHOOK_SECRET}
    )
    assert delivered.status_code == 200, delivered.text
    assert await process_due_webhooks(hosted.app.state, 10) == 1

    payment, calls = await payment_and_calls(hosted, cart)
    assert (payment.status, payment.captured_minor) == ("captured", 3150)
    assert payment.netvalve_transaction_id == sale["transactionID"]
    assert [c.outcome for c in calls] == ["approved"]
    async with hosted.app.state.sessionmaker() as db:
        rows = (await db.execute(select(WebhookOutbox))).scalars().all()
    assert [(r.action, r.payload["data"]["amount"]) for r in rows] == [("captured", "31.50")]
    assert (await _status(hosted, cart)).json()["status"] == "captured"


async def test_without_a_webhook_status_and_reconciliation_find_the_payment(hosted: Stack) -> None:
    cart = await hosted.cart(amount=Decimal("12.00"))
    await on_the_page(hosted, await hosted_session(hosted, cart), APPROVED_CARD)

    # The shopper's way back asks the service, which asks NetValve while the payment is open.
    status = await _status(hosted, cart)
    assert status.json() == {"status": "captured", "source": "netvalve"}

    other = await hosted.cart(amount=Decimal("13.00"))
    await on_the_page(hosted, await hosted_session(hosted, other), APPROVED_CARD)
    hosted.app.state.settings.reconcile_min_age_seconds = 0
    reconciled = await hosted.client.post(f"{API}/reconcile", json={}, headers=hosted.service)
    assert reconciled.json()["settled"] == 1, reconciled.text
    payment, _ = await payment_and_calls(hosted, other)
    assert (payment.status, payment.captured_minor) == ("captured", 1300)


async def test_a_cancelled_page_leaves_the_cart_payable_again(hosted: Stack) -> None:
    cart = await hosted.cart(amount=Decimal("20.00"))
    back = await on_the_page(hosted, await hosted_session(hosted, cart), None)
    assert back.startswith("https://shop.example.com")
    assert (await _status(hosted, cart)).json()["status"] == "pending"

    # The shopper tries again: the unpaid order is let go and a new one is made for the same cart. Back
    # within seconds of the first look-up, which the status throttle would answer from the ledger.
    hosted.app.state.settings.storefront_status_lookup_interval_seconds = 0
    again = await hosted_session(hosted, cart)
    await on_the_page(hosted, again, APPROVED_CARD)
    assert (await _status(hosted, cart)).json()["status"] == "captured"
    payment, calls = await payment_and_calls(hosted, cart)
    assert [(c.outcome, c.request_reference.endswith("-hpp")) for c in calls] == [
        ("not_sent", True),
        ("approved", True),
    ]
    assert payment.captured_minor == 2000
    assert len([t for t in await hosted.sandbox_transactions() if t["type"] == "SALE"]) == 1


async def test_a_declined_card_on_the_page_fails_the_payment_and_the_cart_can_pay_with_fields(
    hosted: Stack,
) -> None:
    cart = await hosted.cart(amount=Decimal("20.00"))
    await on_the_page(hosted, await hosted_session(hosted, cart), DECLINED_CARD)
    assert (await _status(hosted, cart)).json()["status"] == "error"

    await hosted.knobs()
    paid = await hosted.pay(cart, await hosted.token_for(cart))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"


async def test_a_completed_cart_opens_no_hosted_page_order(hosted: Stack) -> None:
    cart = await hosted.cart()
    await complete_cart(hosted.conn, cart.cart_id)
    response = await hosted.client.post(
        "/api/v1/netvalve/hpf/session", json={"cart_id": cart.cart_id}, headers=hosted.storefront
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "cart_completed"
    assert await hosted.conn.fetchval("SELECT count(*) FROM payments") == 0
    assert await hosted.sandbox_transactions() == []
