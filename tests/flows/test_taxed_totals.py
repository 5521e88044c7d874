"""Totals with more decimals than the currency (tax-exclusive prices, percentage promotions): Medusa's exact
amount is kept, NetValve is sent it rounded once (half up to the minor unit, as Medusa's own providers do),
and every later movement of money adds up to what NetValve charged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from app.models import WebhookOutbox
from devtools.medusa_rows import CartRows
from tests.support.hosted import hosted_session, on_the_page, payment_and_calls
from tests.support.stack import Stack, dec, open_stack
from tests.support.threeds import FRICTIONLESS_CARD, SHOP, pay, sales

API = "/api/v1/netvalve"
# 19.99 EUR with 19 % tax on top plus 5.00 shipping, as a real Medusa 2.21.2 totals it.
TAXED = Decimal("29.7381")


async def _of_type(stack: Stack, kind: str) -> list[dict[str, Any]]:
    return [t for t in await stack.sandbox_transactions() if t["type"] == kind]


async def _money(stack: Stack, route: str, cart: CartRows, amount: Any = None) -> httpx.Response:
    body: dict[str, Any] = {"payment_session_id": cart.payment_session_id}
    if amount is not None:
        body["amount"] = amount
    return await stack.client.post(f"{API}/{route}", json=body, headers=stack.service)


async def _set_medusa_amount(stack: Stack, cart: CartRows, amount: Decimal) -> None:
    raw = '{"value": "%s", "precision": 20}' % amount  # noqa: UP031
    await stack.conn.execute(
        "UPDATE payment_session SET amount = $2, raw_amount = $3::jsonb WHERE id = $1",
        cart.payment_session_id,
        amount,
        raw,
    )


@pytest.mark.parametrize(
    ("exact", "charged"),
    [
        (TAXED, Decimal("29.74")),
        (Decimal("17.991"), Decimal("17.99")),  # 10 % off 19.99
        (Decimal("10.005"), Decimal("10.01")),  # half up, as Medusa's providers round
        (Decimal("10.0049999999999999999"), Decimal("10.00")),
    ],
)
async def test_a_taxed_total_is_charged_rounded_once_and_the_ledger_keeps_both(
    stack: Stack, exact: Decimal, charged: Decimal
) -> None:
    cart = await stack.cart(currency="eur", amount=exact)

    session = await stack.hpf_session(cart)
    assert dec(session["amount"]) == charged
    paid = await stack.pay(cart, await stack.token_for(cart))

    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], dec(paid.json()["amount"])) == ("captured", charged)
    [sale] = await _of_type(stack, "SALE")
    assert dec(sale["amount"]) == charged
    payment, [call] = await payment_and_calls(stack, cart)
    assert payment.medusa_amount == exact
    assert (payment.amount_minor, payment.captured_minor) == (int(charged * 100),) * 2
    assert call.amount_minor == int(charged * 100)
    status = await stack.client.get(f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.service)
    assert (dec(status.json()["amount"]), dec(status.json()["medusa_amount"])) == (charged, exact)


async def test_a_yen_total_with_decimals_is_rounded_to_the_yen(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(db, nv_http, medusa_conn, netvalve_site_id="test-site"):
        cart = await stack.cart(currency="jpy", amount=Decimal("1499.5"))
        paid = await stack.pay(cart, await stack.token_for(cart))
        assert paid.status_code == 200, paid.text
        [sale] = await _of_type(stack, "SALE")
        assert dec(sale["amount"]) == Decimal("1500")
        payment, _ = await payment_and_calls(stack, cart)
        assert (payment.amount_minor, payment.medusa_amount) == (1500, Decimal("1499.5"))


async def test_a_change_of_a_ten_thousandth_is_still_a_changed_cart(stack: Stack) -> None:
    cart = await stack.cart(amount=TAXED)
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    # Rounds to the same 29.74, but it is not the amount that was paid.
    await _set_medusa_amount(stack, cart, Decimal("29.7382"))

    again = await stack.pay(cart, "another-token")

    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "payment_amount_mismatch"
    assert len(await _of_type(stack, "SALE")) == 1


async def test_authorized_then_captured_in_full_then_refunded_in_full_by_medusas_exact_amounts(
    authorize_stack: Stack,
) -> None:
    stack = authorize_stack
    cart = await stack.cart(amount=TAXED)
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert (paid.status_code, paid.json()["status"]) == (200, "authorized")
    [authorization] = await _of_type(stack, "AUTHORIZATION")
    assert dec(authorization["amount"]) == Decimal("29.74")

    captured = await _money(stack, "capture", cart)
    assert captured.status_code == 200, captured.text
    assert dec(captured.json()["captured_amount"]) == Decimal("29.74")
    # Medusa refunds its own exact amount, as `refund.raw_amount`.
    refunded = await _money(stack, "refund", cart, {"value": str(TAXED), "precision": 20})

    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "refunded"
    assert dec(refunded.json()["refunded_amount"]) == Decimal("29.74")
    [refund] = await _of_type(stack, "REFUND")
    assert dec(refund["amount"]) == Decimal("29.74")
    payment, calls = await payment_and_calls(stack, cart)
    assert (payment.captured_minor, payment.refunded_minor) == (2974, 2974)
    assert calls[-1].medusa_amount == TAXED


@pytest.mark.parametrize(
    "parts",
    [
        # Rounded one by one they are 9.92 + 9.92 + 9.91 = 29.75: one cent more than was charged.
        ("9.915", "9.915", "9.9081"),
        ("10", "10", "9.7381"),
        ("0.015", "0.015", "29.7081"),
    ],
)
async def test_partial_refunds_of_a_taxed_charge_add_up_to_the_charge_never_more(
    stack: Stack, parts: tuple[str, str, str]
) -> None:
    cart = await stack.cart(amount=TAXED)
    assert (await stack.pay(cart, await stack.token_for(cart))).status_code == 200
    assert sum(Decimal(p) for p in parts) == TAXED

    answers = [await _money(stack, "refund", cart, {"value": p, "precision": 20}) for p in parts]

    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert answers[-1].json()["status"] == "refunded"
    refunds = [dec(r["amount"]) for r in await _of_type(stack, "REFUND")]
    assert sum(refunds) == Decimal("29.74")
    # Each refund is its own exact amount to within a cent: the rounding is spread, not piled on the last.
    assert all(abs(r - Decimal(p)) < Decimal("0.01") for r, p in zip(refunds, parts, strict=True))
    payment, _ = await payment_and_calls(stack, cart)
    assert (payment.captured_minor, payment.refunded_minor) == (2974, 2974)
    more = await _money(stack, "refund", cart, "0.01")
    assert (more.status_code, more.json()["error"]["code"]) == (422, "refund_exceeds_captured")
    assert len(await _of_type(stack, "REFUND")) == 3


async def test_a_refund_that_rounds_to_nothing_is_refused_without_a_gateway_call(stack: Stack) -> None:
    cart = await stack.cart(amount=TAXED)
    assert (await stack.pay(cart, await stack.token_for(cart))).status_code == 200

    tiny = await _money(stack, "refund", cart, "0.004")

    assert tiny.status_code == 422, tiny.text
    assert tiny.json()["error"]["code"] == "invalid_amount"
    assert await _of_type(stack, "REFUND") == []


async def test_a_refund_beyond_medusas_exact_refundable_amount_is_refused(stack: Stack) -> None:
    cart = await stack.cart(amount=TAXED)
    assert (await stack.pay(cart, await stack.token_for(cart))).status_code == 200
    assert (await _money(stack, "refund", cart, "20")).status_code == 200

    too_much = await _money(stack, "refund", cart, "9.75")

    assert too_much.status_code == 422, too_much.text
    assert too_much.json()["error"]["code"] == "refund_exceeds_captured"
    assert len(await _of_type(stack, "REFUND")) == 1


async def test_amounts_with_medusas_full_precision_are_accepted_as_input(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart(amount=TAXED)
    assert (await stack.pay(cart, await stack.token_for(cart))).status_code == 200

    captured = await _money(stack, "capture", cart, {"value": "29.73810000000000000000", "precision": 20})
    assert captured.status_code == 200, captured.text
    assert dec(captured.json()["captured_amount"]) == Decimal("29.74")
    refunded = await _money(stack, "refund", cart, "12.34567890123456789012")
    assert refunded.status_code == 200, refunded.text
    assert dec(refunded.json()["refunded_amount"]) == Decimal("12.35")


async def test_the_outbox_tells_medusa_its_own_exact_amount_for_a_full_charge(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(
        db, nv_http, medusa_conn, medusa_webhook_url="http://medusa.test/hooks/payment/netvalve_netvalve"
    ):
        cart = await stack.cart(amount=TAXED)
        assert (await stack.pay(cart, await stack.token_for(cart))).status_code == 200
        async with stack.app.state.sessionmaker() as session:
            rows = (await session.execute(select(WebhookOutbox))).scalars().all()
        # Medusa captures what it is told; its payment is for 29.7381, so that is "captured in full".
        assert [(r.action, r.payload["data"]["amount"]) for r in rows] == [("captured", str(TAXED))]


@pytest.fixture
async def threeds_stack(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> AsyncIterator[Stack]:
    async for s in open_stack(db, nv_http, medusa_conn, netvalve_threeds="on", store_cors=SHOP):
        yield s


async def test_a_taxed_total_is_authenticated_and_charged_rounded_with_3ds(threeds_stack: Stack) -> None:
    stack = threeds_stack
    cart = await stack.cart(amount=TAXED)

    response = await pay(stack, cart, await stack.token_for(cart, FRICTIONLESS_CARD))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "captured"
    [sale] = await sales(stack)
    assert dec(sale["amount"]) == Decimal("29.74")


async def test_a_taxed_total_is_paid_on_the_hosted_page_rounded(hosted: Stack) -> None:
    cart = await hosted.cart(amount=TAXED)
    session = await hosted_session(hosted, cart)
    payment, _ = await payment_and_calls(hosted, cart)
    order = await hosted.nv.get(
        "/order",
        params={"clientOrderId": payment.client_order_id},
        headers={"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"},
    )
    assert dec(order.json()["orderAmount"]) == Decimal("29.74")

    await on_the_page(hosted, session, "4012000098765439")

    [sale] = await _of_type(hosted, "SALE")
    assert dec(sale["amount"]) == Decimal("29.74")
    assert payment.medusa_amount == TAXED
