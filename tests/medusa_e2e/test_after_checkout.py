"""After the checkout on a real Medusa: an order edit that removes an item and a return, each refunded through
Medusa's admin, agree to the cent in Medusa, the service's ledger and the sandbox."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.medusa_e2e.flows import E2E
from tests.medusa_e2e.medusa_api import UNIT_PRICE, Checkout, MedusaOrder

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
