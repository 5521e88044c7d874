"""A chargeback on a real Medusa: NetValve's webhook disputes the payment in the service, Medusa hears of it
(its provider logs it; Medusa has no dispute action and changes nothing) and the admin's refund is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.medusa_e2e.flows import E2E, ZERO, wait_until
from tests.medusa_e2e.medusa_api import body

pytestmark = pytest.mark.medusa_e2e


@pytest.fixture(autouse=True)
def sale_mode(e2e: E2E) -> None:
    e2e.stack.use_mode("sale")


async def test_a_chargeback_reaches_medusa_and_its_admin_can_no_longer_refund(e2e: E2E) -> None:
    checkout = await e2e.shop.checkout(quantity=1)
    assert (await e2e.pay(checkout))["status"] == "captured"
    order = await e2e.complete(checkout)
    txn = (await e2e.status(checkout))["netvalve_transaction_id"]
    notice = f"NetValve dispute on payment session {checkout.payment_session_id}: Chargeback"

    raised = await e2e.nv.post("/_sandbox/chargeback", json={"transactionId": txn, "amount": "2.00"})
    assert raised.status_code == 200, raised.text

    async def disputed() -> bool:
        return (await e2e.status(checkout))["status"] == "disputed"

    async def medusa_heard() -> bool:
        return e2e.medusa_log_count(notice) == 1

    await wait_until(disputed, "NetValve's webhook disputes the payment in the service")
    await wait_until(medusa_heard, "the service's outbox tells Medusa, whose provider logs the dispute")
    assert Decimal((await e2e.status(checkout))["disputed_amount"]) == Decimal("2.00")

    refused = await e2e.admin.refund(order.payment.id, Decimal("1.00"))
    assert refused.status_code >= 400, refused.text
    assert "payment_disputed" in refused.text, refused.text
    order = await e2e.admin.order(order.id)
    assert (order.payment_status, order.payment.refunded) == ("captured", ZERO)
    assert (await e2e.sandbox(txn)).refunds == []
    assert body(raised)["data"]["chargebackTransactionType"] == "Chargeback"
