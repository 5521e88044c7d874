from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import httpx

from netvalve_sandbox.main import create_app, sandbox_of
from netvalve_sandbox.settings import SandboxSettings
from tests.support.sandbox import Harness, MakeHarness, Receiver, decoded

NAIVE_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")


async def test_webhook_carries_netvalve_body_and_configured_header(sandbox: Harness) -> None:
    sale = (await sandbox.sale(amount="10.99", clientOrderId="cart-9", midId=111)).json()

    await sandbox.drain()

    [hook] = sandbox.receiver.received
    assert hook.headers["x-netvalve-webhook"] == "sandbox-webhook-secret"
    assert hook.headers["content-type"] == "application/json"
    assert b'"amount":10.99' in hook.raw
    body = hook.body
    assert body["eventName"] == "PURCHASED"
    data = body["data"]
    assert data["transactionId"] == sale["transactionID"]
    assert "transactionID" not in data
    assert data["orderId"] == str(sale["orderId"])
    assert data["traceId"] == sale["traceID"]
    assert NAIVE_TIMESTAMP.match(data["responseTimestamp"])
    assert data["amount"] == Decimal("10.99")
    assert (data["responseCode"], data["responseCodeType"]) == ("GTW_1000", "APPROVED")
    assert (data["cardNumber"], data["cardType"]) == ("401200******5439", "VISA")
    assert (data["cardExpiryMonth"], data["cardExpiryYear"]) == ("12", "2030")
    assert (data["midId"], data["siteId"], data["paymentToken"]) == (111, "site-1", "")
    assert (data["clientOrderId"], data["paymentType"]) == ("cart-9", "CARD")
    assert isinstance(data["clientId"], int)
    assert isinstance(data["callbackConfigurationId"], int)
    assert data["authCode"] == sale["authCode"]
    assert data["bankTransactionId"] == sale["bankTransactionId"]


async def test_custom_header_name_and_value(make_harness: MakeHarness) -> None:
    harness = await make_harness(webhook_header_name="x-shop-secret", webhook_header_value="abc")
    await harness.sale()

    await harness.drain()

    assert harness.receiver.received[0].headers["x-shop-secret"] == "abc"


async def test_declines_fire_failure_events(sandbox: Harness) -> None:
    await sandbox.sale(card="4000000000009995")
    await sandbox.authorize(card="4532802195368940")
    await sandbox.drain()

    assert sandbox.receiver.events == ["PURCHASE_FAILED", "AUTHORISATION_FAILED"]
    assert sandbox.receiver.received[0].body["data"]["responseCode"] == "BNK_2011"


async def test_failing_receiver_is_retried_until_it_answers(make_harness: MakeHarness) -> None:
    harness = await make_harness(Receiver(fail_first=4))
    await harness.sale()

    await harness.drain()

    deliveries = (await harness.webhook_log())["deliveries"]
    assert [(item["attempt"], item["statusCode"], item["result"]) for item in deliveries] == [
        (1, 500, "retrying"),
        (2, 500, "retrying"),
        (3, 500, "retrying"),
        (4, 500, "retrying"),
        (5, 200, "delivered"),
    ]
    assert harness.receiver.events == ["PURCHASED"]


async def test_receiver_that_never_answers_is_given_up(make_harness: MakeHarness) -> None:
    harness = await make_harness(
        Receiver(fail_first=100, fail_status=503), webhook_instant_retries=1, webhook_retry_schedule=[0.01]
    )
    await harness.sale()

    await harness.drain()

    deliveries = (await harness.webhook_log())["deliveries"]
    assert [item["result"] for item in deliveries] == ["retrying", "retrying", "gave_up"]
    assert harness.receiver.calls == 3


async def test_slow_receiver_counts_as_failed(make_harness: MakeHarness) -> None:
    harness = await make_harness(
        Receiver(delay=0.2),
        webhook_timeout_seconds=0.05,
        webhook_instant_retries=0,
        webhook_retry_schedule=[],
    )
    await harness.sale()

    await harness.drain()

    [attempt] = (await harness.webhook_log())["deliveries"]
    assert attempt["result"] == "gave_up"
    assert attempt["error"].startswith("TimeoutError")


async def test_duplicate_knob_delivers_every_webhook_twice(sandbox: Harness) -> None:
    await sandbox.knobs(duplicate_webhooks=True)
    await sandbox.sale()

    await sandbox.drain()

    first, second = sandbox.receiver.received
    assert first.raw == second.raw
    copies = [item["copy"] for item in (await sandbox.webhook_log())["deliveries"]]
    assert copies == [1, 2]


async def test_out_of_order_knob_swaps_pairs(sandbox: Harness) -> None:
    await sandbox.knobs(out_of_order_webhooks=True)
    auth_id = (await sandbox.authorize(amount="20.00")).json()["transactionID"]
    await sandbox.post("/capture", {"transactionID": auth_id, "amount": Decimal("20.00")})
    await sandbox.sale()

    await sandbox.drain()

    assert sandbox.receiver.events == ["CAPTURED", "AUTHORISED", "PURCHASED"]


async def test_disabled_webhooks_are_recorded_but_not_sent(sandbox: Harness) -> None:
    await sandbox.knobs(webhooks_enabled=False)
    await sandbox.sale()

    await sandbox.drain()

    log = await sandbox.webhook_log()
    assert [event["eventName"] for event in log["events"]] == ["PURCHASED"]
    assert log["deliveries"] == []
    assert sandbox.receiver.calls == 0


async def test_without_webhook_url_nothing_is_sent(make_harness: MakeHarness) -> None:
    harness = await make_harness(webhook_url=None)
    await harness.sale()

    await harness.drain()

    assert harness.receiver.calls == 0
    assert len((await harness.webhook_log())["events"]) == 1


async def test_lifespan_shutdown_stops_the_worker() -> None:
    receiver = Receiver(fail_first=100)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()))
    settings = SandboxSettings(webhook_url="http://receiver.test/hooks", webhook_retry_schedule=[30.0])
    app = create_app(settings, webhook_client=client)
    dispatcher = sandbox_of(app).webhooks
    async with app.router.lifespan_context(app):
        dispatcher.emit({"eventName": "PURCHASED", "data": {"transactionId": 1}})
        await asyncio.sleep(0.05)
        assert receiver.calls == 4
        assert dispatcher.running

    assert not dispatcher.running
    assert not client.is_closed
    await client.aclose()


async def test_a_chargeback_is_raised_on_a_transaction_with_its_type_source_and_a_trace_of_its_own(
    sandbox: Harness,
) -> None:
    sale = (await sandbox.sale(amount="10.99", clientOrderId="cart-cb")).json()
    raised = await sandbox.client.post(
        "/_sandbox/chargeback", json={"transactionId": sale["transactionID"], "type": "Ethoca"}
    )
    partial = await sandbox.client.post(
        "/_sandbox/chargeback", json={"transactionId": sale["transactionID"], "amount": "4.5"}
    )
    unknown = await sandbox.client.post("/_sandbox/chargeback", json={"transactionId": 1})
    await sandbox.drain()

    assert (raised.status_code, partial.status_code, unknown.status_code) == (200, 200, 404)
    assert sandbox.receiver.events == ["PURCHASED", "CHARGEBACK", "CHARGEBACK"]
    alert, chargeback = (hook.body["data"] for hook in sandbox.receiver.received[1:])
    assert alert["traceId"] == raised.json()["data"]["traceId"]
    assert (alert["chargebackTransactionType"], alert["chargebackSource"]) == ("Ethoca", "CB-Alert")
    assert (alert["amount"], chargeback["amount"]) == (Decimal("10.99"), Decimal("4.50"))
    assert chargeback["chargebackTransactionType"] == "Chargeback"
    assert (alert["transactionId"], alert["clientOrderId"]) == (sale["transactionID"], "cart-cb")
    assert len({sale["traceID"], alert["traceId"], chargeback["traceId"]}) == 3
    assert [row["type"] for row in await sandbox.ledger()] == ["SALE"]


async def test_a_raised_chargeback_is_carried_by_the_transactions_look_up_and_by_nothing_else(
    sandbox: Harness,
) -> None:
    sale = (await sandbox.sale(amount="10.99", clientOrderId="cart-cb-lookup")).json()
    before = decoded(await sandbox.get("/transaction", id=sale["transactionID"]))
    assert before["chargebackData"] == []
    first = await sandbox.client.post(
        "/_sandbox/chargeback", json={"transactionId": sale["transactionID"], "type": "Ethoca"}
    )
    second = await sandbox.client.post(
        "/_sandbox/chargeback",
        json={"transactionId": sale["transactionID"], "amount": "4.5", "source": "Visa"},
    )
    assert (first.status_code, second.status_code) == (200, 200)

    detail = decoded(await sandbox.get("/transaction", id=sale["transactionID"]))
    alert, dispute = detail["chargebackData"]
    assert (alert["chargebackTransactionType"], alert["chargebackSource"], alert["amount"]) == (
        "Ethoca",
        "CB-Alert",
        Decimal("10.99"),
    )
    assert (dispute["chargebackTransactionType"], dispute["chargebackSource"], dispute["amount"]) == (
        "Chargeback",
        "Visa",
        Decimal("4.50"),
    )
    assert alert["currency"] == dispute["currency"] == sale["currency"]
    assert alert["chargebackId"] != dispute["chargebackId"]
    assert alert["chargebackDate"]
    # The webhook names no chargeback id: NetValve's documentation has none in its body.
    assert "chargebackId" not in first.json()["data"]
    order = (await sandbox.get("/order", clientOrderId="cart-cb-lookup")).json()
    assert "chargebackData" not in order
