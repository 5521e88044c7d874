"""A chargeback from NetValve's own webhook delivery to Medusa's signed webhook, the sandbox sending both."""

from __future__ import annotations

from app.models import PaymentStatus
from app.runtime import deliver_due_outbox, process_due_webhooks
from tests.webhooks.conftest import MakeStack


async def test_a_chargeback_sent_by_netvalve_reaches_medusa_signed_and_disputes_the_payment(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(sandbox_webhooks=True)
    payment_id = await stack.add_payment(client_order_id="order-e2e-cb")
    sale = await stack.sandbox_sale("order-e2e-cb")
    await stack.drain_sandbox()
    await process_due_webhooks(stack.state, 10)

    await stack.sandbox_post(
        "/_sandbox/chargeback", {"transactionId": sale["transactionID"], "amount": "2.50", "type": "RDR"}
    )
    await stack.drain_sandbox()
    assert await process_due_webhooks(stack.state, 10) == 1
    assert await deliver_due_outbox(stack.state, 10) == 2

    payment = await stack.payment(payment_id)
    assert (payment.status, payment.disputed_minor, payment.dispute_type) == (
        PaymentStatus.DISPUTED,
        250,
        "RDR",
    )
    assert [e.status for e in await stack.events()] == ["processed", "processed"]
    assert stack.receiver.bad_signatures == 0
    captured, dispute = stack.receiver.received
    assert (captured["action"], dispute["action"]) == ("captured", "not_supported")
    assert dispute["data"]["session_id"] == "payses_01TEST"
    assert dispute["data"]["dispute"] == {
        "kind": "dispute",
        "type": "RDR",
        "source": "CB-Alert",
        "amount": "2.50",
        "disputed_amount": "2.50",
        "currency_code": "eur",
        "status": "disputed",
        "netvalve_transaction_id": sale["transactionID"],
    }
