"""After the checkout on a real Medusa: an order edit that removes an item and a return, each refunded through
Medusa's admin, agree to the cent in Medusa, the service's ledger and the sandbox; an order edit that adds an
item and an exchange for a dearer item leave a collection without a cart, paid through the service with
``payment_collection_id``, which Medusa then shows paid with nothing pending."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.medusa_e2e.flows import E2E, charged, wait_until
from tests.medusa_e2e.medusa_api import UNIT_PRICE, Checkout, MedusaOrder, body

pytestmark = pytest.mark.medusa_e2e


@pytest.fixture(autouse=True)
def sale_mode(e2e: E2E) -> None:
    e2e.stack.use_mode("sale")


async def captured_order(e2e: E2E, quantity: int) -> tuple[Checkout, MedusaOrder]:
    checkout = await e2e.shop.checkout(quantity=quantity)
    paid = await e2e.pay(checkout)
    assert paid["status"] == "captured", paid
    order = await e2e.complete(checkout)
    await e2e.assert_agree(checkout, order, captured=checkout.total)
    return checkout, order


async def refund_what_medusa_owes(e2e: E2E, checkout: Checkout, order: MedusaOrder, owed: Decimal) -> None:
    """The order owes the shopper ``owed`` (a negative pending difference); the admin refunds it on the
    order's payment, and the order then owes nothing either way."""
    summary = await e2e.admin.summary(order.id)
    assert summary.pending_difference == -owed, summary
    response = await e2e.admin.refund(order.payment.id, owed)
    assert response.status_code == 200, response.text
    after = await e2e.admin.summary(order.id)
    assert after.pending_difference == 0, after
    assert after.refunded_total == owed
    order = await e2e.admin.order(order.id)
    await e2e.assert_agree(checkout, order, captured=checkout.total, refunded=owed)
    sandbox = await e2e.sandbox((await e2e.status(checkout))["netvalve_transaction_id"])
    assert sandbox.refunds == [owed]


async def test_an_order_edit_that_removes_an_item_after_capture_is_refunded_through_medusas_admin(
    e2e: E2E,
) -> None:
    checkout, order = await captured_order(e2e, quantity=2)
    [item] = await e2e.admin.items(order.id)

    await e2e.admin.edit_order(order.id)
    await e2e.admin.edit_item_quantity(order.id, item["id"], 1)
    await e2e.admin.confirm_edit(order.id)

    # Medusa keeps the one captured collection: a removed item leaves no collection to pay, only a credit.
    [collection] = await e2e.admin.collections(order.id)
    assert collection.status == "completed"
    await refund_what_medusa_owes(e2e, checkout, order, UNIT_PRICE)


async def test_a_return_received_is_refunded_through_medusas_admin(e2e: E2E) -> None:
    checkout, order = await captured_order(e2e, quantity=3)
    await e2e.admin.fulfill(order.id, e2e.catalog)
    [item] = await e2e.admin.items(order.id)

    await e2e.admin.return_items(order.id, e2e.catalog, [{"id": item["id"], "quantity": 2}])

    await refund_what_medusa_owes(e2e, checkout, order, 2 * UNIT_PRICE)


async def pay_what_the_order_owes(e2e: E2E, order: MedusaOrder, owed: Decimal) -> None:
    """The order owes ``owed`` on a new collection without a cart; the shopper pays it through the service
    with ``payment_collection_id`` (HPF session, token, ``/payment``) on the payment-link page, and Medusa,
    told by the service's outbox, shows the collection paid and nothing pending."""
    summary = await e2e.admin.summary(order.id)
    assert summary.pending_difference == owed, summary
    [due] = [c for c in await e2e.admin.collections(order.id) if c.status == "not_paid"]
    assert due.amount == owed
    session_id = await e2e.shop.collection_session(due.id)

    paid = await e2e.pay_collection(due.id, session_id)
    assert paid.status_code == 200, paid.text
    assert body(paid)["status"] == "captured", paid.text

    async def medusa_marks_it_paid() -> bool:
        # Medusa shows the collection completed before it adds the order's transaction (a later step of
        # its capture): the order's summary is waited for too.
        [collection] = [c for c in await e2e.admin.collections(order.id) if c.id == due.id]
        summary = await e2e.admin.summary(order.id)
        return collection.status == "completed" and summary.pending_difference == 0

    await wait_until(medusa_marks_it_paid, "the outbox's captured reaches Medusa's collection and order")
    [collection] = [c for c in await e2e.admin.collections(order.id) if c.id == due.id]
    after = await e2e.admin.summary(order.id)
    assert after.pending_difference == 0, after
    status = await e2e.status_of_session(session_id)
    sandbox = await e2e.sandbox(status["netvalve_transaction_id"])
    assert collection.captured == owed == Decimal(status["medusa_amount"])
    assert charged(owed) == Decimal(status["captured_amount"]) == sandbox.captured == sandbox.amount
    assert sandbox.kind == "SALE"


async def test_an_order_edit_that_adds_an_item_is_paid_through_the_service_with_its_collection(
    e2e: E2E,
) -> None:
    checkout, order = await captured_order(e2e, quantity=1)

    await e2e.admin.edit_order(order.id)
    await e2e.admin.edit_add_item(order.id, e2e.catalog.variant_id)
    await e2e.admin.confirm_edit(order.id)

    await pay_what_the_order_owes(e2e, order, UNIT_PRICE)
    first = await e2e.status(checkout)
    assert Decimal(first["captured_amount"]) == charged(checkout.total)


async def test_an_exchange_for_a_dearer_item_is_paid_through_the_service_with_its_collection(
    e2e: E2E,
) -> None:
    dearer = Decimal("20.50")
    variant_id = await e2e.admin.variant(e2e.catalog, "Netvalve e2e jug", dearer)
    _, order = await captured_order(e2e, quantity=1)
    await e2e.admin.fulfill(order.id, e2e.catalog)
    [item] = await e2e.admin.items(order.id)

    await e2e.admin.exchange(
        order.id,
        e2e.catalog,
        inbound=[{"id": item["id"], "quantity": 1}],
        outbound=[{"variant_id": variant_id, "quantity": 1}],
    )

    await pay_what_the_order_owes(e2e, order, dearer - UNIT_PRICE)
