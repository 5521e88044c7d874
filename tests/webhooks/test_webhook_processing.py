"""The worker: resolve, confirm with NetValve (the sandbox), apply forward only, forward to Medusa."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.models import GatewayTransaction, PaymentStatus, WebhookEvent, WebhookOutboxAttempt
from app.runtime import deliver_due_outbox, process_due_webhooks
from devtools.netvalve_events import event_body
from tests.support.webhooks import card_body, post_event
from tests.webhooks.conftest import MakeStack, Stack


async def test_unknown_transaction_stays_pending_then_is_processed(stack: Stack) -> None:
    sale = await stack.sandbox_sale("order-late")
    txn = int(sale["transactionID"])
    await post_event(stack.client, event_body("PURCHASED", transaction_id=txn, client_order_id="order-late"))

    assert await process_due_webhooks(stack.state, 10) == 1
    [event] = await stack.events()
    assert event.status == "pending"
    assert event.attempts == 1
    assert event.next_attempt_at > datetime.now(UTC) + timedelta(seconds=3)
    assert event.last_error
    # Not due yet: nothing to do.
    assert await process_due_webhooks(stack.state, 10) == 0

    payment_id = await stack.add_payment(netvalve_transaction_id=txn, client_order_id="order-late")
    await stack.make_due()
    assert await process_due_webhooks(stack.state, 10) == 1

    [event] = await stack.events()
    assert event.status == "processed"
    assert event.payment_session_id == "payses_01TEST"
    assert event.medusa_action == "captured"
    assert event.processed_at is not None
    payment = await stack.payment(payment_id)
    assert payment.status == PaymentStatus.CAPTURED
    assert payment.captured_minor == 1250

    assert await deliver_due_outbox(stack.state, 10) == 1
    assert stack.receiver.bad_signatures == 0
    [forward] = stack.receiver.received
    assert forward["action"] == "captured"
    assert forward["data"] == {"session_id": "payses_01TEST", "amount": "12.50"}
    assert forward["event_id"]
    assert forward["occurred_at"]


async def test_gives_up_after_the_configured_time(make_stack: MakeStack) -> None:
    stack = await make_stack(webhook_give_up_after_seconds=0.01)
    await post_event(stack.client, event_body("AUTHORISED", transaction_id=5550001))
    await asyncio.sleep(0.05)

    await process_due_webhooks(stack.state, 10)

    [event] = await stack.events()
    assert event.status == "attention"
    await stack.make_due()
    assert await process_due_webhooks(stack.state, 10) == 0


async def test_forged_captured_event_changes_nothing(stack: Stack) -> None:
    auth = await stack.sandbox_authorize("order-forged")
    txn = int(auth["transactionID"])
    payment_id = await stack.add_payment(
        netvalve_transaction_id=txn,
        client_order_id="order-forged",
        capture_mode="authorize",
        status=PaymentStatus.AUTHORIZED,
        authorized_minor=1250,
    )
    forged = event_body("CAPTURED", transaction_id=txn, client_order_id="order-forged", amount=12.5)
    await post_event(stack.client, forged)

    await process_due_webhooks(stack.state, 10)

    payment = await stack.payment(payment_id)
    assert payment.status == PaymentStatus.AUTHORIZED
    assert payment.captured_minor == 0
    [event] = await stack.events()
    assert event.status == "processed"
    assert await stack.outbox() == []
    assert await deliver_due_outbox(stack.state, 10) == 0
    assert stack.receiver.received == []


async def test_out_of_order_pairs_apply_only_forward(stack: Stack) -> None:
    sale = await stack.sandbox_sale("order-ooo")
    txn = int(sale["transactionID"])
    payment_id = await stack.add_payment(netvalve_transaction_id=txn, client_order_id="order-ooo")
    # Captured first, then the (older) authorisation.
    await post_event(stack.client, event_body("CAPTURED", transaction_id=txn, client_order_id="order-ooo"))
    await process_due_webhooks(stack.state, 10)
    await post_event(stack.client, event_body("AUTHORISED", transaction_id=txn, client_order_id="order-ooo"))
    await process_due_webhooks(stack.state, 10)

    payment = await stack.payment(payment_id)
    assert payment.status == PaymentStatus.CAPTURED
    assert [e.status for e in await stack.events()] == ["processed", "processed"]
    assert [row.action for row in await stack.outbox()] == ["captured"]

    # AUTHORISED after REFUNDED: the refunded payment stays refunded, nothing is forwarded.
    refund = await stack.sandbox_post("/refund", {"transactionID": txn})
    await post_event(
        stack.client,
        event_body(
            "REFUNDED", transaction_id=int(refund["transactionID"]), client_order_id="order-ooo", trace_id="r"
        ),
    )
    await process_due_webhooks(stack.state, 10)
    payment = await stack.payment(payment_id)
    assert (payment.status, payment.refunded_minor) == (PaymentStatus.REFUNDED, 1250)
    await post_event(stack.client, event_body("AUTHORISED", transaction_id=txn, trace_id="late"))
    await process_due_webhooks(stack.state, 10)
    assert (await stack.payment(payment_id)).status == PaymentStatus.REFUNDED
    assert [row.action for row in await stack.outbox()] == ["captured"]
    statuses = {e.trace_id: (e.status, e.medusa_action) for e in await stack.events()}
    assert statuses["r"] == ("processed", "not_supported")
    assert statuses["late"] == ("processed", "authorized")


async def test_forward_is_retried_after_a_failing_receiver_and_sent_once(make_stack: MakeStack) -> None:
    stack = await make_stack(webhook_retry_base_seconds=1)
    stack.receiver.fail_first = 1
    sale = await stack.sandbox_sale("order-retry")
    txn = int(sale["transactionID"])
    await stack.add_payment(netvalve_transaction_id=txn, client_order_id="order-retry")
    body = event_body("PURCHASED", transaction_id=txn, client_order_id="order-retry")
    await post_event(stack.client, body)
    # The same applied action announced twice (PURCHASED and CAPTURED): one forward.
    await post_event(stack.client, body | {"eventName": "CAPTURED"})
    await process_due_webhooks(stack.state, 10)

    assert await deliver_due_outbox(stack.state, 10) == 1
    [row] = await stack.outbox()
    assert (row.status, row.attempts, row.last_http_status) == ("pending", 1, 503)
    assert await deliver_due_outbox(stack.state, 10) == 0  # backing off

    await stack.make_due()
    assert await deliver_due_outbox(stack.state, 10) == 1
    [row] = await stack.outbox()
    assert (row.status, row.attempts, row.last_http_status) == ("delivered", 2, 200)
    assert len(stack.receiver.received) == 1
    async with stack.state.sessionmaker() as db:
        attempts = (
            (await db.execute(select(WebhookOutboxAttempt).order_by(WebhookOutboxAttempt.id))).scalars().all()
        )
    assert [a.http_status for a in attempts] == [503, 200]
    assert attempts[0].response_body == "temporarily broken"

    # Replaying the event does not forward the action again.
    await stack.make_due()
    async with stack.state.sessionmaker.begin() as db:
        await db.execute(update(WebhookEvent).values(status="pending"))
    await process_due_webhooks(stack.state, 10)
    await stack.make_due()
    assert await deliver_due_outbox(stack.state, 10) == 0
    assert len(stack.receiver.received) == 1


async def test_forward_gives_up_after_max_attempts(make_stack: MakeStack) -> None:
    stack = await make_stack(medusa_webhook_max_attempts=2)
    stack.receiver.fail_first = 100
    sale = await stack.sandbox_sale("order-dead")
    txn = int(sale["transactionID"])
    await stack.add_payment(netvalve_transaction_id=txn, client_order_id="order-dead")
    await post_event(stack.client, event_body("PURCHASED", transaction_id=txn))
    await process_due_webhooks(stack.state, 10)
    for _ in range(3):
        await deliver_due_outbox(stack.state, 10)
        await stack.make_due()
    [row] = await stack.outbox()
    assert (row.status, row.attempts) == ("failed", 2)


async def test_without_medusa_url_nothing_is_queued(make_stack: MakeStack) -> None:
    stack = await make_stack(medusa_webhook_url=None)
    sale = await stack.sandbox_sale("order-nourl")
    txn = int(sale["transactionID"])
    await stack.add_payment(netvalve_transaction_id=txn, client_order_id="order-nourl")
    await post_event(stack.client, event_body("PURCHASED", transaction_id=txn))
    await process_due_webhooks(stack.state, 10)
    assert [e.status for e in await stack.events()] == ["processed"]
    assert await stack.outbox() == []


async def test_concurrent_duplicates_forward_each_applied_action_once(stack: Stack) -> None:
    payments = []
    for i in range(5):
        sale = await stack.sandbox_sale(f"order-c{i}")
        txn = int(sale["transactionID"])
        await stack.add_payment(
            netvalve_transaction_id=txn,
            client_order_id=f"order-c{i}",
            cart_id=f"cart_c{i}",
            payment_session_id=f"payses_c{i}",
        )
        payments.append(txn)
    bodies = [event_body("PURCHASED", transaction_id=txn, trace_id=f"tr{txn}") for txn in payments]
    deliveries = [bodies[i % 5] for i in range(500)]
    await asyncio.gather(*(post_event(stack.client, body) for body in deliveries))

    # Several workers at once (replicas): SKIP LOCKED keeps them apart.
    await asyncio.gather(*(process_due_webhooks(stack.state, 2) for _ in range(4)))
    while await process_due_webhooks(stack.state, 10):
        pass
    await asyncio.gather(*(deliver_due_outbox(stack.state, 2) for _ in range(4)))
    while await deliver_due_outbox(stack.state, 10):
        pass

    assert len(await stack.events()) == 5
    assert {e.status for e in await stack.events()} == {"processed"}
    sessions = sorted(item["data"]["session_id"] for item in stack.receiver.received)
    assert sessions == [f"payses_c{i}" for i in range(5)]


async def test_sandbox_webhooks_end_to_end(make_stack: MakeStack) -> None:
    stack = await make_stack(sandbox_webhooks=True)
    sale_payment = await stack.add_payment(client_order_id="order-e2e-sale")
    declined_payment = await stack.add_payment(
        client_order_id="order-e2e-decline", cart_id="cart_decl", payment_session_id="payses_decl"
    )

    await stack.sandbox_sale("order-e2e-sale")
    declined = await stack.sandbox_client.post(
        "/sale",
        content=json.dumps(card_body("order-e2e-decline") | {"cardNumber": "4000000000009995"}),
        headers={
            "netvalve-client-id": "sandbox-client",
            "netvalve-api-key": "sandbox-api-key",
            "content-type": "application/json",
        },
    )
    assert declined.json()["responseCode"] == "BNK_2011"
    await stack.drain_sandbox()

    events = await stack.events()
    assert sorted(e.event_name for e in events) == ["PURCHASED", "PURCHASE_FAILED"]
    assert {e.status for e in events} == {"received"}
    assert all("x-netvalve-webhook" not in e.headers for e in events)

    await process_due_webhooks(stack.state, 10)
    await deliver_due_outbox(stack.state, 10)

    assert {e.status for e in await stack.events()} == {"processed"}
    assert (await stack.payment(sale_payment)).status == PaymentStatus.CAPTURED
    assert (await stack.payment(declined_payment)).status == PaymentStatus.ERROR
    forwarded = {item["data"]["session_id"]: item["action"] for item in stack.receiver.received}
    assert forwarded == {"payses_01TEST": "captured", "payses_decl": "failed"}


async def test_background_worker_processes_and_forwards(make_stack: MakeStack) -> None:
    stack = await make_stack(
        sandbox_webhooks=True, webhook_worker_enabled=True, webhook_worker_poll_seconds=0.05
    )
    await stack.add_payment(client_order_id="order-bg")
    await stack.sandbox_sale("order-bg")
    await stack.drain_sandbox()

    # Up to 30 s: the worker runs in the background, and a loaded machine can be slow to schedule it.
    for _ in range(600):
        if stack.receiver.received and [e.status for e in await stack.events()] == ["processed"]:
            break
        await asyncio.sleep(0.05)
    assert [item["action"] for item in stack.receiver.received] == ["captured"]
    assert [e.status for e in await stack.events()] == ["processed"]


async def test_authorize_capture_refund_made_in_netvalve_end_to_end(make_stack: MakeStack) -> None:
    """Capture and refund done outside the service (NetValve's back office) reach the ledger through the
    sandbox's own webhooks, with NetValve's amounts; Medusa hears `authorized`, then `captured` for what
    was captured."""
    stack = await make_stack(sandbox_webhooks=True)
    payment_id = await stack.add_payment(client_order_id="order-e2e-acr", capture_mode="authorize")

    auth = await stack.sandbox_authorize("order-e2e-acr")
    txn = int(auth["transactionID"])
    await stack.drain_sandbox()
    await process_due_webhooks(stack.state, 10)
    payment = await stack.payment(payment_id)
    assert (payment.status, payment.authorized_minor, payment.captured_minor) == ("authorized", 1250, 0)

    await stack.sandbox_post(
        "/capture", {"transactionID": txn, "amount": 10.00, "captureOptions": {"finalCapture": True}}
    )
    await stack.drain_sandbox()
    await process_due_webhooks(stack.state, 10)
    payment = await stack.payment(payment_id)
    assert (payment.status, payment.captured_minor, payment.final_capture_done) == ("captured", 1000, True)

    await stack.sandbox_post("/refund", {"transactionID": txn, "amount": 4.00})
    await stack.drain_sandbox()
    await process_due_webhooks(stack.state, 10)
    payment = await stack.payment(payment_id)
    assert (payment.status, payment.refunded_minor) == ("refunded", 400)

    events = await stack.events()
    assert [(e.event_name, e.status) for e in events] == [
        ("AUTHORISED", "processed"),
        ("CAPTURED", "processed"),
        ("REFUNDED", "processed"),
    ]
    await deliver_due_outbox(stack.state, 10)
    assert [(f["action"], f["data"]) for f in stack.receiver.received] == [
        ("authorized", {"session_id": "payses_01TEST", "amount": "12.50"}),
        ("captured", {"session_id": "payses_01TEST", "amount": "10.00"}),
    ]

    # A second look changes nothing: the follow-ups are in the ledger once.
    await stack.make_due()
    async with stack.state.sessionmaker.begin() as db:
        await db.execute(update(WebhookEvent).values(status="pending"))
    await process_due_webhooks(stack.state, 10)
    payment = await stack.payment(payment_id)
    assert (payment.captured_minor, payment.refunded_minor) == (1000, 400)
    async with stack.state.sessionmaker() as db:
        calls = (await db.execute(select(GatewayTransaction.operation))).scalars().all()
    assert sorted(calls) == ["capture", "refund"]
    await deliver_due_outbox(stack.state, 10)
    assert len(stack.receiver.received) == 2


async def test_an_event_the_ledger_already_holds_is_processed_without_a_look_up(stack: Stack) -> None:
    """The sale's own PURCHASED after our call recorded the capture: NetValve is not asked again (it is
    down here, and the event is processed all the same); an event telling something new still waits on it."""
    sale = await stack.sandbox_sale("order-known")
    txn = int(sale["transactionID"])
    payment_id = await stack.add_payment(
        netvalve_transaction_id=txn,
        client_order_id="order-known",
        status=PaymentStatus.CAPTURED,
        authorized_minor=1250,
        captured_minor=1250,
    )
    knobs = {"fault": "error=503", "fault_paths": ["/transaction", "/inquiry", "/order"]}
    await stack.sandbox_client.put("/_sandbox/knobs", json=knobs)
    await post_event(stack.client, event_body("PURCHASED", transaction_id=txn, client_order_id="order-known"))
    refund = int((await stack.sandbox_post("/refund", {"transactionID": txn}))["transactionID"])
    await post_event(
        stack.client, event_body("REFUNDED", transaction_id=refund, client_order_id="order-known")
    )

    await process_due_webhooks(stack.state, 10)

    statuses = {e.event_name: e.status for e in await stack.events()}
    assert statuses == {"PURCHASED": "processed", "REFUNDED": "pending"}
    assert [row.action for row in await stack.outbox()] == ["captured"]
    assert (await stack.payment(payment_id)).refunded_minor == 0
