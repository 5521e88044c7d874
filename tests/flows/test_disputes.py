"""Chargebacks end to end: NetValve's CHARGEBACK webhook (raised by the sandbox) disputes the payment in the
ledger, blocks refunds, reaches the outbox for Medusa and the metrics; alerts only flag the payment."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from app.models import CallOutcome, Operation, Payment, WebhookEvent, WebhookOutbox
from app.runtime import process_due_webhooks
from app.services import disputes
from app.services.ledger import Ledger
from devtools.medusa_rows import CartRows
from devtools.netvalve_events import event_body
from tests.conftest import WEBHOOK_HEADER, WEBHOOK_SECRET
from tests.support.stack import APPROVED_CARD, Stack, dec, open_stack

API = "/api/v1/netvalve"
MEDUSA_URL = "http://medusa.test/hooks/payment/netvalve_netvalve"


@pytest.fixture
async def shop(db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection) -> AsyncIterator[Stack]:
    async for stack in open_stack(db, nv_http, medusa_conn, medusa_webhook_url=MEDUSA_URL):
        yield stack


async def _paid(stack: Stack, amount: Decimal = Decimal("40.00")) -> tuple[CartRows, int]:
    cart = await stack.cart(amount=amount)
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    return cart, await stack.transaction_id(cart)


async def _raise(stack: Stack, transaction_id: int, **fields: Any) -> dict[str, Any]:
    """NetValve's dispute desk raises a chargeback; the sandbox answers the webhook body it sends."""
    raised = await stack.nv.post("/_sandbox/chargeback", json={"transactionId": transaction_id, **fields})
    assert raised.status_code == 200, raised.text
    body: dict[str, Any] = raised.json()
    return body


async def _deliver(stack: Stack, body: dict[str, Any]) -> str:
    delivered = await stack.client.post(f"{API}/webhook", json=body, headers={WEBHOOK_HEADER: WEBHOOK_SECRET})
    assert delivered.status_code == 200, delivered.text
    status: str = delivered.json()["status"]
    return status


async def _payment(stack: Stack, cart: CartRows) -> Payment:
    async with stack.app.state.sessionmaker() as db:
        return (await db.execute(select(Payment).where(Payment.cart_id == cart.cart_id))).scalar_one()


async def _rows(stack: Stack, model: type[WebhookEvent] | type[WebhookOutbox]) -> list[Any]:
    async with stack.app.state.sessionmaker() as db:
        return list((await db.execute(select(model).order_by(model.id))).scalars())


async def _refund(stack: Stack, cart: CartRows, amount: str | None = None) -> httpx.Response:
    body = {"payment_session_id": cart.payment_session_id} | ({"amount": amount} if amount else {})
    return await stack.client.post(f"{API}/refund", json=body, headers=stack.service)


async def _service_status(stack: Stack, cart: CartRows, *, refresh: bool = False) -> httpx.Response:
    params = {"cart_id": cart.cart_id} | ({"refresh": "true"} if refresh else {})
    return await stack.client.get(f"{API}/status", params=params, headers=stack.service)


def _counted(kind_type: str, kind: str) -> float:
    return REGISTRY.get_sample_value("netvalve_disputes_total", {"type": kind_type, "kind": kind}) or 0.0


def _disputes(rows: list[WebhookOutbox]) -> list[dict[str, Any]]:
    return [r.payload["data"] for r in rows if r.action == "not_supported"]


async def test_a_chargeback_disputes_the_payment_reaches_the_outbox_and_is_counted(shop: Stack) -> None:
    cart, txn = await _paid(shop)
    before = _counted("chargeback", "dispute")

    body = await _raise(shop, txn)
    assert (body["eventName"], body["data"]["chargebackTransactionType"]) == ("CHARGEBACK", "Chargeback")
    assert await _deliver(shop, body) == "accepted"
    assert await process_due_webhooks(shop.app.state, 10) == 1

    payment = await _payment(shop, cart)
    assert (payment.status, payment.disputed_minor, payment.captured_minor) == ("disputed", 4000, 4000)
    assert (payment.dispute_type, payment.dispute_source) == ("Chargeback", "CB-Alert")
    assert payment.disputed_at is not None
    [event] = await _rows(shop, WebhookEvent)
    assert (event.status, event.medusa_action, event.last_error) == ("processed", "not_supported", None)
    outbox = await _rows(shop, WebhookOutbox)
    assert [r.action for r in outbox] == ["captured", "not_supported"]
    [forward] = [r for r in outbox if r.action == "not_supported"]
    assert forward.status == "pending"
    assert forward.payload["action"] == "not_supported"
    assert forward.payload["data"] == {
        "session_id": cart.payment_session_id,
        "dispute": {
            "kind": "dispute",
            "type": "Chargeback",
            "source": "CB-Alert",
            "amount": "40.00",
            "disputed_amount": "40.00",
            "currency_code": "EUR",
            "status": "disputed",
            "netvalve_transaction_id": txn,
        },
    }
    assert _counted("chargeback", "dispute") == before + 1

    service = await _service_status(shop, cart)
    assert service.json()["status"] == "disputed"
    assert (dec(service.json()["disputed_amount"]), service.json()["dispute_type"]) == (
        Decimal("40.00"),
        "Chargeback",
    )
    storefront = await shop.client.get(
        f"{API}/status", params={"cart_id": cart.cart_id}, headers=shop.storefront
    )
    assert set(storefront.json()) == {"status", "source"}


async def test_a_disputed_payment_refuses_refunds_without_calling_netvalve(shop: Stack) -> None:
    cart, txn = await _paid(shop)
    await _deliver(shop, await _raise(shop, txn))
    await process_due_webhooks(shop.app.state, 10)

    for amount in (None, "5.00"):
        refused = await _refund(shop, cart, amount)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "payment_disputed"
    assert "REFUND" not in [t["type"] for t in await shop.sandbox_transactions()]
    payment = await _payment(shop, cart)
    assert (payment.status, payment.refunded_minor, payment.operation_in_flight) == ("disputed", 0, None)


async def test_a_refund_made_in_netvalves_back_office_is_still_counted_and_the_dispute_stays(
    shop: Stack,
) -> None:
    cart, txn = await _paid(shop)
    await _deliver(shop, await _raise(shop, txn, amount="30.00"))
    await process_due_webhooks(shop.app.state, 10)
    refunded = await shop.netvalve("/refund", {"transactionID": txn, "amount": 10})
    assert refunded["responseCode"] == "GTW_1000", refunded

    fresh = await _service_status(shop, cart, refresh=True)
    assert (fresh.json()["status"], fresh.json()["source"]) == ("disputed", "netvalve")
    assert (dec(fresh.json()["refunded_amount"]), dec(fresh.json()["disputed_amount"])) == (
        Decimal("10.00"),
        Decimal("30.00"),
    )


async def test_the_same_chargeback_delivered_twice_is_processed_once(shop: Stack) -> None:
    cart, txn = await _paid(shop)
    before = _counted("chargeback", "dispute")
    body = await _raise(shop, txn)

    assert [await _deliver(shop, body), await _deliver(shop, body)] == ["accepted", "duplicate"]
    assert await process_due_webhooks(shop.app.state, 10) == 1
    assert await process_due_webhooks(shop.app.state, 10) == 0

    assert len(await _rows(shop, WebhookEvent)) == 1
    assert len(_disputes(await _rows(shop, WebhookOutbox))) == 1
    assert _counted("chargeback", "dispute") == before + 1
    assert (await _payment(shop, cart)).disputed_minor == 4000


async def test_a_partial_chargeback_disputes_its_amount_and_a_later_cycle_does_not_add_to_it(
    shop: Stack,
) -> None:
    cart, txn = await _paid(shop, Decimal("40.00"))
    await _deliver(shop, await _raise(shop, txn, amount="15.50"))
    await process_due_webhooks(shop.app.state, 10)

    payment = await _payment(shop, cart)
    assert (payment.status, payment.disputed_minor, payment.captured_minor) == ("disputed", 1550, 4000)
    refused = await _refund(shop, cart, "5.00")
    assert refused.json()["error"]["code"] == "payment_disputed"
    assert refused.json()["error"]["details"] == {"disputed_amount": "15.50"}

    # The same dispute's next cycle (a new notice, no dispute id from NetValve) is the same money.
    await _deliver(shop, await _raise(shop, txn, amount="15.50", type="Fraud"))
    await process_due_webhooks(shop.app.state, 10)
    payment = await _payment(shop, cart)
    assert (payment.disputed_minor, payment.dispute_type) == (1550, "Fraud")
    assert [d["dispute"]["amount"] for d in _disputes(await _rows(shop, WebhookOutbox))] == ["15.50", "15.50"]


async def test_an_alert_flags_the_payment_and_a_refund_still_averts_the_chargeback(shop: Stack) -> None:
    cart, txn = await _paid(shop)
    before = _counted("ethoca", "alert")

    await _deliver(shop, await _raise(shop, txn, type="Ethoca", source="Ethoca-Alert"))
    assert await process_due_webhooks(shop.app.state, 10) == 1

    payment = await _payment(shop, cart)
    assert (payment.status, payment.disputed_minor, payment.disputed_at) == ("captured", 0, None)
    assert (payment.dispute_type, payment.dispute_source) == ("Ethoca", "Ethoca-Alert")
    assert payment.dispute_noticed_at is not None
    [alert] = _disputes(await _rows(shop, WebhookOutbox))
    assert (alert["dispute"]["kind"], alert["dispute"]["status"]) == ("alert", "captured")
    assert _counted("ethoca", "alert") == before + 1

    refunded = await _refund(shop, cart)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "refunded"


async def test_a_chargeback_amount_beyond_the_captured_money_still_blocks_refunds_and_asks_an_operator(
    shop: Stack,
) -> None:
    cart, txn = await _paid(shop)
    await _deliver(shop, await _raise(shop, txn, amount="45.00"))
    await process_due_webhooks(shop.app.state, 10)

    payment = await _payment(shop, cart)
    assert (payment.status, payment.disputed_minor) == ("disputed", 0)
    [event] = await _rows(shop, WebhookEvent)
    assert event.status == "attention"
    assert "45.00" in (event.last_error or "")
    [forward] = _disputes(await _rows(shop, WebhookOutbox))
    assert (forward["dispute"]["amount"], forward["dispute"]["disputed_amount"]) == ("45.00", "0.00")
    assert (await _refund(shop, cart)).json()["error"]["code"] == "payment_disputed"


async def test_a_chargeback_for_an_unknown_transaction_is_kept_until_an_operator_sees_it(shop: Stack) -> None:
    body = event_body("CHARGEBACK", transaction_id=987654321, client_order_id="payses_nobody-1")
    assert await _deliver(shop, body) == "accepted"
    assert await process_due_webhooks(shop.app.state, 10) == 1

    [event] = await _rows(shop, WebhookEvent)
    assert (event.status, event.attempts) == ("pending", 1)
    assert event.last_error == "no payment for this transaction yet"
    assert event.netvalve_transaction_id == 987654321

    shop.app.state.settings.webhook_give_up_after_seconds = 0
    async with shop.app.state.sessionmaker.begin() as db:
        await db.execute(text("UPDATE webhook_events SET next_attempt_at = now()"))
    assert await process_due_webhooks(shop.app.state, 10) == 1
    [event] = await _rows(shop, WebhookEvent)
    assert (event.status, event.attempts) == ("attention", 2)
    assert event.payload["data"]["chargebackTransactionType"] == "Chargeback"
    assert await _rows(shop, WebhookOutbox) == []


async def _paid_on_the_hosted_page(stack: Stack, cart: CartRows) -> None:
    session = await stack.client.post(
        f"{API}/hpf/session", json={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert session.json()["flow"] == "hpp", session.text
    token = parse_qs(urlsplit(session.json()["hpp"]["redirect_url"]).query)["paymentToken"][0]
    form = {"paymentToken": token, "cardNumber": APPROVED_CARD, "expiryMonth": "12", "expiryYear": "2030"}
    page = await stack.nv.post("/checkout/complete", data=form | {"cvv": "999", "action": "pay"})
    assert page.status_code == 303, page.text


async def test_a_chargeback_before_the_sales_own_webhook_still_ends_disputed(hosted: Stack) -> None:
    cart = await hosted.cart(amount=Decimal("31.50"))
    await _paid_on_the_hosted_page(hosted, cart)
    assert (await _payment(hosted, cart)).status == "pending"
    [sale] = [t for t in await hosted.sandbox_transactions() if t["type"] == "SALE"]

    await _deliver(hosted, await _raise(hosted, sale["transactionID"], amount="31.50"))
    assert await process_due_webhooks(hosted.app.state, 10) == 1
    payment = await _payment(hosted, cart)
    assert (payment.status, payment.captured_minor, payment.disputed_minor) == ("disputed", 3150, 3150)

    purchased = event_body(
        "PURCHASED", transaction_id=sale["transactionID"], client_order_id=sale["clientOrderId"]
    )
    await _deliver(hosted, purchased)
    assert await process_due_webhooks(hosted.app.state, 10) == 1

    payment = await _payment(hosted, cart)
    assert (payment.status, payment.disputed_minor) == ("disputed", 3150)
    assert [e.status for e in await _rows(hosted, WebhookEvent)] == ["processed", "processed"]
    assert [r.action for r in await _rows(hosted, WebhookOutbox)] == ["captured", "not_supported"]


async def test_a_refund_already_on_its_way_when_the_chargeback_lands_leaves_the_payment_disputed(
    shop: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    cart, _ = await _paid(shop)
    ledger = Ledger(shop.app.state.settings, shop.app.state.sessionmaker)
    payment_id = (await _payment(shop, cart)).id
    async with ledger.locked(payment_id) as locked:
        ref = await locked.open_call(Operation.REFUND, reference="refund-in-flight", amount_minor=1000)
    async with ledger.locked(payment_id) as locked:
        notice = disputes.Notice(type="Chargeback", source="CB-Alert", amount=Decimal("40.00"))
        assert disputes.record(locked.payment, notice, datetime.now(UTC)) is None
    async with ledger.locked(payment_id) as locked:
        assert locked.settle(await locked.call(ref.call_id), CallOutcome.APPROVED)

    payment = await _payment(shop, cart)
    assert (payment.status, payment.refunded_minor, payment.disputed_minor) == ("disputed", 1000, 4000)
    assert payment.operation_in_flight is None
    assert any("repaid twice" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def _webhooks_counted(result: str) -> float:
    return REGISTRY.get_sample_value("netvalve_webhooks_total", {"result": result}) or 0.0


async def _forged(stack: Stack, cart: CartRows, txn: int, **data: Any) -> dict[str, Any]:
    """A CHARGEBACK written by someone holding the webhook header, not raised by NetValve."""
    payment = await _payment(stack, cart)
    fields = {"amount": 40.0, "chargebackSource": "CB-Alert"} | data
    return event_body("CHARGEBACK", transaction_id=txn, client_order_id=payment.client_order_id, **fields)


async def test_a_chargeback_netvalve_does_not_confirm_changes_nothing_and_is_counted(
    shop: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    cart, txn = await _paid(shop)
    before = _webhooks_counted("chargeback_unconfirmed")

    assert await _deliver(shop, await _forged(shop, cart, txn)) == "accepted"
    assert await process_due_webhooks(shop.app.state, 10) == 1

    payment = await _payment(shop, cart)
    assert (payment.status, payment.disputed_minor, payment.disputed_at) == ("captured", 0, None)
    assert (payment.dispute_type, payment.dispute_noticed_at) == (None, None)
    [event] = await _rows(shop, WebhookEvent)
    assert event.status == "rejected"
    assert "does not confirm" in (event.last_error or "")
    assert _disputes(await _rows(shop, WebhookOutbox)) == []
    assert _webhooks_counted("chargeback_unconfirmed") == before + 1
    assert any("not confirmed by NetValve" in r.getMessage() for r in caplog.records)
    refunded = await _refund(shop, cart)
    assert refunded.status_code == 200, refunded.text


async def test_a_forged_chargeback_on_another_transaction_of_netvalve_does_not_dispute_this_payment(
    shop: Stack,
) -> None:
    cart, _ = await _paid(shop)
    other, other_txn = await _paid(shop)
    await _raise(shop, other_txn)
    # The other sale's genuine chargeback, pinned on this payment's reference.
    forged = await _forged(shop, cart, other_txn)
    forged["data"]["transactionId"] = None

    await _deliver(shop, forged)
    await process_due_webhooks(shop.app.state, 10)

    assert (await _payment(shop, cart)).status == "captured"
    assert (await _payment(shop, other)).status == "captured"


async def test_a_genuine_chargeback_after_a_rejected_forgery_of_it_is_still_recorded(shop: Stack) -> None:
    cart, txn = await _paid(shop)
    await _deliver(shop, await _forged(shop, cart, txn))
    await process_due_webhooks(shop.app.state, 10)

    assert await _deliver(shop, await _raise(shop, txn)) == "accepted"
    await process_due_webhooks(shop.app.state, 10)

    payment = await _payment(shop, cart)
    assert (payment.status, payment.disputed_minor) == ("disputed", 4000)
    assert [e.status for e in await _rows(shop, WebhookEvent)] == ["rejected", "processed"]


async def test_the_same_chargeback_under_another_trace_id_is_a_duplicate(shop: Stack) -> None:
    _, txn = await _paid(shop)
    body = await _raise(shop, txn)
    again = {**body, "data": {**body["data"], "traceId": "another-trace"}}

    assert [await _deliver(shop, body), await _deliver(shop, again)] == ["accepted", "duplicate"]
    assert len(await _rows(shop, WebhookEvent)) == 1


async def _clear(stack: Stack, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return await stack.client.post(f"{API}/dispute/clear", json=body, headers=headers)


async def test_an_operator_clears_a_dispute_recorded_in_error_and_refunds_work_again(
    shop: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    cart, txn = await _paid(shop)
    await _deliver(shop, await _raise(shop, txn, amount="15.00"))
    await process_due_webhooks(shop.app.state, 10)
    assert (await _payment(shop, cart)).status == "disputed"
    body = {"payment_session_id": cart.payment_session_id, "reason": "NetValve reversed CB, ticket 4411"}

    assert (await _clear(shop, body, shop.storefront)).status_code == 401
    cleared = await _clear(shop, body, shop.service)

    assert cleared.status_code == 200, cleared.text
    answer = cleared.json()
    assert (answer["status"], dec(answer["disputed_amount"]), answer["dispute_type"]) == (
        "captured",
        Decimal("0.00"),
        None,
    )
    payment = await _payment(shop, cart)
    assert (payment.status, payment.disputed_minor, payment.disputed_at) == ("captured", 0, None)
    audit = await shop.conn.fetch("SELECT * FROM payment_audit WHERE payment_id = $1", payment.id)
    assert [(row["action"], row["reason"]) for row in audit] == [
        ("dispute_cleared", "NetValve reversed CB, ticket 4411")
    ]
    assert audit[0]["actor"] == "service"
    before = json.loads(audit[0]["before"])
    assert (before["status"], before["disputed_amount"], before["dispute_type"]) == (
        "disputed",
        "15.00",
        "Chargeback",
    )
    logged = [r for r in caplog.records if r.getMessage() == "dispute cleared by an operator"]
    assert [r.levelname for r in logged] == ["WARNING"]

    again = await _clear(shop, body, shop.service)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "payment_not_disputed")
    refunded = await _refund(shop, cart)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "refunded"
