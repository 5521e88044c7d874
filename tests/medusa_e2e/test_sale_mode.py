"""Sale mode on a real Medusa: the service charges at once, Medusa records the payment as captured."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import SERVICE_KEY
from tests.medusa_e2e.flows import DECLINED_CARD, E2E, OTHER_APPROVED_CARD
from tests.medusa_e2e.medusa_api import body

pytestmark = pytest.mark.medusa_e2e


@pytest.fixture(autouse=True)
def sale_mode(e2e: E2E) -> None:
    e2e.stack.use_mode("sale")


async def test_paid_cart_completes_into_a_captured_order_and_a_partial_refund_reaches_every_ledger(
    e2e: E2E,
) -> None:
    checkout = await e2e.shop.checkout(quantity=2)
    paid = await e2e.pay(checkout)
    assert paid["status"] == "captured", paid
    assert Decimal(paid["amount"]) == checkout.total

    order = await e2e.complete(checkout)
    assert order.payment.captured_at is not None
    assert order.payment_status == "captured"
    await e2e.assert_agree(checkout, order, captured=checkout.total)

    refund = Decimal("7.45")
    response = await e2e.admin.refund(order.payment.id, refund)
    assert response.status_code == 200, response.text
    order = await e2e.admin.order(order.id)
    assert order.payment_status == "partially_refunded"
    await e2e.assert_agree(checkout, order, captured=checkout.total, refunded=refund)
    sandbox = await e2e.sandbox((await e2e.status(checkout))["netvalve_transaction_id"])
    assert sandbox.refunds == [refund]


async def test_declined_card_leaves_the_cart_open_and_another_card_pays_it(e2e: E2E) -> None:
    checkout = await e2e.shop.checkout(quantity=1)
    declined = await e2e.attempt(checkout, DECLINED_CARD)
    assert declined.status_code == 402, declined.text
    assert body(declined)["error"]["code"] == "card_declined"

    refused = await e2e.shop.complete(checkout.cart_id)
    assert body(refused).get("type") != "order", refused.text
    assert await e2e.order_of_cart(checkout.cart_id) is None
    assert (await e2e.shop.cart(checkout.cart_id))["completed_at"] is None

    # Medusa marked the session as failed; the storefront starts a new one, as after any failed payment.
    retry = await e2e.shop.payment_session(checkout.cart_id)
    assert retry.payment_session_id != checkout.payment_session_id
    paid = await e2e.pay(retry, OTHER_APPROVED_CARD)
    assert paid["status"] == "captured", paid
    order = await e2e.complete(retry)
    await e2e.assert_agree(retry, order, captured=retry.total)
    [declined_sale] = await e2e.sandbox_attempts(checkout)
    assert (declined_sale["type"], declined_sale["responseCode"]) == ("SALE", "BNK_2005")
    assert Decimal(declined_sale["amount"]) == checkout.total == retry.total


async def test_webhook_completes_the_order_of_a_shopper_whose_browser_died_after_paying(e2e: E2E) -> None:
    checkout = await e2e.shop.checkout(quantity=3)
    paid = await e2e.pay(checkout)
    assert paid["status"] == "captured", paid

    order = await e2e.order_completed_by_webhook(checkout)
    assert order.payment.captured_at is not None
    await e2e.assert_agree(checkout, order, captured=checkout.total)


async def test_webhook_completes_the_order_when_a_refund_followed_the_payment_within_a_second(
    e2e: E2E,
) -> None:
    checkout = await e2e.shop.checkout(quantity=1)
    # The sandbox holds each webhook until the next one: REFUNDED reaches the service before PURCHASED.
    knobs = await e2e.nv.put("/_sandbox/knobs", json={"out_of_order_webhooks": True})
    assert knobs.status_code == 200, knobs.text
    try:
        paid = await e2e.pay(checkout)
        assert paid["status"] == "captured", paid
        refund = Decimal("3.21")
        refunded = await e2e.service.post(
            "/api/v1/netvalve/refund",
            json={"payment_session_id": checkout.payment_session_id, "amount": str(refund)},
            headers={"authorization": f"Bearer {SERVICE_KEY}"},
        )
        assert refunded.status_code == 200, refunded.text
    finally:
        reset = await e2e.nv.put("/_sandbox/knobs", json={})
        assert reset.status_code == 200, reset.text
    drained = await e2e.nv.post("/_sandbox/webhooks/drain", params={"timeout": "10"})
    assert body(drained)["drained"] is True, drained.text

    order = await e2e.order_completed_by_webhook(checkout)
    # Medusa captured the whole payment; the refund was made outside Medusa (it has no webhook action for it).
    await e2e.assert_agree(
        checkout, order, captured=checkout.total, refunded=refund, medusa_refunded=Decimal(0)
    )
