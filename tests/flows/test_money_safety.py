"""The ways money went wrong in the payment core (issue "Payment core"): each reproduced end to end."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from app.models import GatewayTransaction, Payment, WebhookOutbox
from tests.support.scripted import (
    TINY_TIMEOUTS,
    answered_pending,
    delivered_after_timeout,
    reaches_netvalve_after,
)
from tests.support.stack import OpenScripted, Stack, dec

API = "/api/v1/netvalve"


async def _ledger(stack: Stack, cart_id: str) -> tuple[Payment, list[GatewayTransaction]]:
    async with stack.app.state.sessionmaker() as db:
        payment = (
            await db.execute(select(Payment).where(Payment.cart_id == cart_id).order_by(Payment.id.desc()))
        ).scalar()
        assert payment is not None
        calls = (
            await db.execute(
                select(GatewayTransaction)
                .where(GatewayTransaction.payment_id == payment.id)
                .order_by(GatewayTransaction.id)
            )
        ).scalars()
        return payment, list(calls)


async def _of_type(stack: Stack, kind: str) -> list[dict[str, Any]]:
    return [t for t in await stack.sandbox_transactions() if t["type"] == kind]


async def _reconcile(stack: Stack) -> dict[str, Any]:
    stack.app.state.settings.reconcile_min_age_seconds = 0
    response = await stack.client.post(f"{API}/reconcile", json={}, headers=stack.service)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _status(stack: Stack, cart_id: str, **params: str) -> httpx.Response:
    return await stack.client.get(
        f"{API}/status", params={"cart_id": cart_id, **params}, headers=stack.service
    )


# --- 1. a pending refund is open, not rejected --------------------------------------------------------


async def test_a_pending_refund_is_202_blocks_a_second_one_and_is_settled_once(
    scripted: OpenScripted,
) -> None:
    stack, transport = await scripted()
    cart = await stack.cart(amount=Decimal("40.00"))
    txn = await stack.paid_transaction(cart)

    transport.once("/refund", answered_pending())
    pending = await stack.client.post(
        f"{API}/refund", json={"transaction_id": txn, "amount": "15.00"}, headers=stack.service
    )
    assert pending.status_code == 202, pending.text

    again = await stack.client.post(
        f"{API}/refund", json={"transaction_id": txn, "amount": "15.00"}, headers=stack.service
    )
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "operation_in_progress"
    assert len(await _of_type(stack, "REFUND")) == 1

    assert (await _reconcile(stack))["settled"] == 1
    after = await _status(stack, cart.cart_id)
    assert after.json()["status"] == "refunded"
    assert dec(after.json()["refunded_amount"]) == Decimal("15.00")
    payment, calls = await _ledger(stack, cart.cart_id)
    assert payment.refunded_minor == 1500
    assert [c.outcome for c in calls if c.operation == "refund"] == ["approved"]


# --- 2. an idempotent retry ties to the call it already made -----------------------------------------


async def test_a_retry_with_the_key_of_a_settled_refund_never_refunds_again(scripted: OpenScripted) -> None:
    stack, _ = await scripted(idempotency_lease_seconds=1)
    cart = await stack.cart(amount=Decimal("40.00"))
    txn = await stack.paid_transaction(cart)
    body = {"transaction_id": txn, "amount": "5.00"}
    headers = {**stack.service, "Idempotency-Key": "refund-k"}

    # NetValve refunds; the answer is lost, the key stores "unknown"; reconciliation records the refund.
    await stack.knobs(fault="timeout", fault_paths=["/refund"], fault_after_commit=True)
    first = await stack.client.post(f"{API}/refund", json=body, headers=headers)
    assert first.status_code == 202, first.text
    await stack.knobs(fault=None, fault_paths=[])
    assert (await _reconcile(stack))["settled"] == 1

    # What a crash before the key's completion leaves: the key claimed, no answer, its lease over.
    async with stack.app.state.sessionmaker.begin() as db:
        await db.execute(
            text(
                "UPDATE idempotency_keys SET response_status = NULL, response_body = NULL,"
                " claimed_at = now() - interval '1 hour' WHERE key = 'refund-k'"
            )
        )
    retried = await stack.client.post(f"{API}/refund", json=body, headers=headers)
    assert retried.status_code == 200, retried.text
    assert dec(retried.json()["refunded_amount"]) == Decimal("5.00")
    assert len(await _of_type(stack, "REFUND")) == 1


# --- 3. absence is no proof while the request may still be on the wire -------------------------------


async def test_a_status_poll_of_an_unknown_sale_never_reads_not_found_as_not_sent(
    scripted: OpenScripted,
) -> None:
    stack, transport = await scripted()
    cart = await stack.cart(amount=Decimal("30.00"))
    token = await stack.token_for(cart)
    release = asyncio.Event()
    transport.once("/sale", delivered_after_timeout(release, transport))

    unknown = await stack.pay(cart, token)
    assert unknown.status_code == 202, unknown.text
    assert unknown.json()["status"] == "unknown"

    poll = await stack.client.get(f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.storefront)
    assert poll.status_code == 200, poll.text
    assert poll.json()["status"] in ("unknown", "pending")

    # The shopper tries again: no new charge while the first may still land.
    second = await stack.pay(cart, await stack.token_for(cart))
    assert second.status_code == 202, second.text

    release.set()
    await asyncio.gather(*transport.background)
    await _reconcile(stack)
    settled = await _status(stack, cart.cart_id)
    assert settled.json()["status"] == "captured"
    assert len(await _of_type(stack, "SALE")) == 1


def _late_approvals() -> float:
    return REGISTRY.get_sample_value("netvalve_late_approvals_total", {"applied": "yes"}) or 0.0


async def test_a_late_approval_wins_over_a_look_up_that_found_nothing(scripted: OpenScripted) -> None:
    stack, transport = await scripted(**TINY_TIMEOUTS)
    cart = await stack.cart(amount=Decimal("30.00"))
    token = await stack.token_for(cart)
    release = asyncio.Event()
    held = asyncio.Event()
    transport.once("/sale", reaches_netvalve_after(release, held))
    paying = asyncio.create_task(stack.pay(cart, token))
    await held.wait()
    await asyncio.sleep(0.2)
    looked = await _status(stack, cart.cart_id, refresh="true")
    assert looked.status_code == 200, looked.text

    release.set()
    alerts_before = _late_approvals()
    paid = await paying
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    payment, calls = await _ledger(stack, cart.cart_id)
    assert payment.status == "captured"
    assert payment.captured_minor == 3000
    assert [c.outcome for c in calls] == ["approved"]
    assert _late_approvals() == alerts_before + 1


# --- 4. known children are read under the lock ------------------------------------------------------


async def test_a_refund_completing_during_a_refresh_is_counted_once(scripted: OpenScripted) -> None:
    stack, transport = await scripted()
    cart = await stack.cart(amount=Decimal("40.00"))
    txn = await stack.paid_transaction(cart)

    release, started = asyncio.Event(), asyncio.Event()
    # The refresh reads the ledger, then NetValve answers /transaction only after the refund is made.
    transport.once("/transaction", reaches_netvalve_after(release, started))
    refreshing = asyncio.create_task(_status(stack, cart.cart_id, refresh="true"))
    await started.wait()
    refund = await stack.client.post(
        f"{API}/refund", json={"transaction_id": txn, "amount": "15.00"}, headers=stack.service
    )
    assert refund.status_code == 200, refund.text
    release.set()
    again = await refreshing
    assert again.status_code == 200, again.text

    assert dec(again.json()["refunded_amount"]) == Decimal("15.00")
    payment, calls = await _ledger(stack, cart.cart_id)
    assert payment.refunded_minor == 1500
    assert len([c for c in calls if c.operation == "refund"]) == 1


# --- the smaller ones -------------------------------------------------------------------------------


async def test_the_hpf_session_writes_the_amount_with_the_currencys_decimals(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("49.9"))
    session = await stack.hpf_session(cart)
    assert session["amount"] == "49.90"


async def test_a_phone_netvalve_cannot_take_is_left_out_and_the_sale_goes_through(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("12.00"))
    await stack.conn.execute(
        "UPDATE cart_address SET phone = $1 WHERE id = $2",
        "+353 86 123 4567 ext. 8901",
        cart.billing_address_id,
    )
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"


async def test_a_three_decimal_currency_is_refused_before_anything_is_recorded(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    from tests.support.stack import open_stack

    async for stack in open_stack(db, nv_http, medusa_conn, netvalve_site_id="test-site"):
        cart = await stack.cart(currency="kwd", amount=Decimal("12.345"))
        refused = await stack.pay(cart, "any-token")
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "currency_not_supported"
        async with stack.app.state.sessionmaker() as dbs:
            rows = (await dbs.execute(select(Payment).where(Payment.cart_id == cart.cart_id))).scalars()
            assert list(rows) == []
        assert await stack.sandbox_transactions() == []


async def test_a_zero_decimal_currency_is_sent_exactly(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    from tests.support.stack import open_stack

    async for stack in open_stack(db, nv_http, medusa_conn, netvalve_site_id="test-site"):
        cart = await stack.cart(currency="jpy", amount=Decimal("1500"))
        paid = await stack.pay(cart, await stack.token_for(cart))
        assert paid.status_code == 200, paid.text
        assert (paid.json()["amount"], paid.json()["currency_code"]) == ("1500", "JPY")
        [sale] = await _of_type(stack, "SALE")
        assert (dec(sale["amount"]), sale["currency"]) == (Decimal("1500"), "JPY")
        payment, _ = await _ledger(stack, cart.cart_id)
        assert (payment.amount_minor, payment.captured_minor) == (1500, 1500)


async def test_a_paid_payment_whose_cart_amount_changed_is_409(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("10.00"))
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    await stack.conn.execute(
        """UPDATE payment_session SET amount = 30, raw_amount = '{"value": "30", "precision": 20}'
           WHERE id = $1""",
        cart.payment_session_id,
    )
    again = await stack.pay(cart, "another-token")
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "payment_amount_mismatch"
    status = await stack.client.get(
        f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert status.status_code == 409, status.text
    assert status.json()["error"]["code"] == "payment_amount_mismatch"
    assert len(await _of_type(stack, "SALE")) == 1


# --- Medusa closes the loop (issue "Medusa closes the loop", service side) ------------------------------


async def test_an_amount_as_medusas_bignumber_writes_it_is_accepted(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("40.00"))
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    refund = await stack.client.post(
        f"{API}/refund",
        json={
            "payment_session_id": cart.payment_session_id,
            "amount": {"value": "1.2300000000000000000", "precision": 20},
        },
        headers=stack.service,
    )
    assert refund.status_code == 200, refund.text
    assert dec(refund.json()["refunded_amount"]) == Decimal("1.23")


async def test_medusa_hears_a_sale_refunded_before_any_webhook(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    """The ledger announces what it records, whatever moved it: no webhook is needed for `captured`, and a
    refund a moment later does not swallow it."""
    from tests.support.stack import open_stack

    async for stack in open_stack(
        db, nv_http, medusa_conn, medusa_webhook_url="http://medusa.test/hooks/payment/netvalve_netvalve"
    ):
        cart = await stack.cart(amount=Decimal("25.00"))
        paid = await stack.pay(cart, await stack.token_for(cart))
        assert paid.status_code == 200, paid.text
        refund = await stack.client.post(
            f"{API}/refund", json={"payment_session_id": cart.payment_session_id}, headers=stack.service
        )
        assert refund.status_code == 200, refund.text
        async with stack.app.state.sessionmaker() as session:
            rows = (await session.execute(select(WebhookOutbox).order_by(WebhookOutbox.id))).scalars().all()
        assert [(row.action, row.payload["data"]) for row in rows] == [
            ("captured", {"session_id": cart.payment_session_id, "amount": "25.00"})
        ]
