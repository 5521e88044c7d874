from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import pytest

from tests.support.sandbox import Harness, MakeHarness, card_body


async def test_latency_header_delays_the_answer(sandbox: Harness) -> None:
    started = time.perf_counter()
    response = await sandbox.post("/sale", card_body(), **{"x-sandbox-fault": "latency=0.05"})

    assert time.perf_counter() - started >= 0.05
    assert response.json()["responseCode"] == "GTW_1000"


async def test_latency_knob_delays_payment_calls_only(sandbox: Harness) -> None:
    await sandbox.knobs(latency_ms=60)

    started = time.perf_counter()
    await sandbox.sale()
    sale_elapsed = time.perf_counter() - started
    started = time.perf_counter()
    await sandbox.ledger()
    ledger_elapsed = time.perf_counter() - started

    assert sale_elapsed >= 0.06
    assert ledger_elapsed < 0.06


async def test_held_names_the_requests_received_and_still_held_by_their_latency(sandbox: Harness) -> None:
    await sandbox.knobs(latency_ms=300, fault_paths=["/sale"])
    sale = asyncio.create_task(sandbox.sale())
    held: dict[str, int] = {}
    for _ in range(200):
        held = (await sandbox.client.get("/_sandbox/held")).json()
        if held:
            break
        await asyncio.sleep(0.005)

    assert held == {"/sale": 1}
    await sale
    assert (await sandbox.client.get("/_sandbox/held")).json() == {}


async def test_timeout_after_commit_charges_once_and_can_be_reconciled(sandbox: Harness) -> None:
    started = time.perf_counter()
    lost = await sandbox.post("/sale", card_body(clientOrderId="cart-lost"), **{"x-sandbox-fault": "timeout"})

    assert lost.status_code == 504
    assert lost.headers["content-type"].startswith("text/html")
    assert time.perf_counter() - started >= 0.2
    order = (await sandbox.get("/order", clientOrderId="cart-lost")).json()
    assert order["orderState"] == "PAID"
    [sale] = order["transactions"]
    inquiry = (await sandbox.get("/inquiry", transactionId=sale["netvalveID"])).json()
    assert inquiry["responseCode"] == "GTW_1000"
    retry = await sandbox.sale(clientOrderId="cart-lost")
    assert retry.json()[0]["responseCode"] == "GTW_2065"
    assert [row["type"] for row in await sandbox.ledger()] == ["SALE"]


async def test_client_side_timeout_still_leaves_the_charge(sandbox: Harness) -> None:
    await sandbox.knobs(fault="timeout=30")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sandbox.sale(clientOrderId="cart-slow"), 0.1)

    await sandbox.knobs()
    assert (await sandbox.get("/order", clientOrderId="cart-slow")).json()["orderState"] == "PAID"


async def test_timeout_before_commit_charges_nothing(sandbox: Harness) -> None:
    response = await sandbox.post(
        "/sale", card_body(clientOrderId="cart-2"), **{"x-sandbox-fault": "timeout&after_commit=false"}
    )

    assert response.status_code == 504
    assert await sandbox.ledger() == []
    assert (await sandbox.sale(clientOrderId="cart-2")).json()["responseCode"] == "GTW_1000"


@pytest.mark.parametrize(("fault", "status"), [("error=500", 500), ("error=503", 503)])
async def test_error_fault_defaults_to_before_commit(sandbox: Harness, fault: str, status: int) -> None:
    response = await sandbox.post("/sale", card_body(), **{"x-sandbox-fault": fault})

    assert response.status_code == status
    assert response.json()["status"] == status
    assert await sandbox.ledger() == []


async def test_error_fault_after_commit_via_knob(sandbox: Harness) -> None:
    await sandbox.knobs(fault="error=500", fault_after_commit=True)

    response = await sandbox.sale()

    assert response.status_code == 500
    assert [row["state"] for row in await sandbox.ledger()] == ["Settled"]


async def test_html_502(sandbox: Harness) -> None:
    response = await sandbox.post("/sale", card_body(), **{"x-sandbox-fault": "html502"})

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"
    assert await sandbox.ledger() == []


async def test_malformed_body_is_not_json_but_the_charge_happened(sandbox: Harness) -> None:
    response = await sandbox.post("/sale", card_body(), **{"x-sandbox-fault": "malformed"})

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert len(await sandbox.ledger()) == 1


@pytest.mark.parametrize(("fault", "status"), [("empty", 200), ("empty=502", 502)])
async def test_empty_body(sandbox: Harness, fault: str, status: int) -> None:
    response = await sandbox.post("/sale", card_body(), **{"x-sandbox-fault": fault})

    assert response.status_code == status
    assert response.content == b""


async def test_rate_limited_with_retry_after(sandbox: Harness) -> None:
    response = await sandbox.post("/sale", card_body(), **{"x-sandbox-fault": "status=429&retry_after=2"})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert await sandbox.ledger() == []


async def test_forced_decline_records_a_failed_capture(sandbox: Harness) -> None:
    auth_id = (await sandbox.authorize(amount="15.00")).json()["transactionID"]

    failed = await sandbox.post(
        "/capture",
        {"transactionID": auth_id, "amount": Decimal("15.00")},
        **{"x-sandbox-fault": "decline=BNK_2005"},
    )
    captured = await sandbox.post("/capture", {"transactionID": auth_id, "amount": Decimal("15.00")})

    assert (failed.status_code, failed.json()["responseCode"]) == (200, "BNK_2005")
    assert failed.json()["transactionType"] == "CAPTURE"
    assert captured.json()["responseCode"] == "GTW_1000"
    await sandbox.drain()
    assert sandbox.receiver.events == ["AUTHORISED", "CAPTURE_FAILED", "CAPTURED"]


async def test_forced_decline_on_refund_and_cancel(sandbox: Harness) -> None:
    sale_id = (await sandbox.sale()).json()["transactionID"]
    auth_id = (await sandbox.authorize()).json()["transactionID"]
    decline = {"x-sandbox-fault": "decline"}

    refund = (await sandbox.post("/refund", {"transactionID": sale_id}, **decline)).json()
    cancel = (await sandbox.post("/cancel", {"transactionID": auth_id}, **decline)).json()

    assert refund["responseCode"] == cancel["responseCode"] == "GTW_9999"
    await sandbox.drain()
    assert sandbox.receiver.events[-2:] == ["REFUND_FAILED", "CANCELLATION_FAILED"]


async def test_run_level_fault_only_on_listed_paths(sandbox: Harness) -> None:
    await sandbox.knobs(fault="html502", fault_paths=["/capture"])

    auth = await sandbox.authorize(amount="9.00")
    capture = await sandbox.post(
        "/capture", {"transactionID": auth.json()["transactionID"], "amount": Decimal("9.00")}
    )

    assert auth.status_code == 200
    assert capture.status_code == 502


async def test_error_rate_is_seeded_and_reproducible(sandbox: Harness) -> None:
    async def statuses() -> list[int]:
        return [(await sandbox.get("/inquiry", transactionId=1)).status_code for _ in range(20)]

    await sandbox.knobs(error_rate=0.5, seed=7)
    first = await statuses()
    await sandbox.knobs(error_rate=0.5, seed=7)
    second = await statuses()

    assert first == second
    assert set(first) - {404} <= {500, 502, 503}
    assert 404 in first
    assert any(status >= 500 for status in first)


async def test_error_rate_one_fails_every_call(sandbox: Harness) -> None:
    await sandbox.knobs(error_rate=1)

    responses = [await sandbox.sale(clientOrderId=f"c{i}") for i in range(5)]

    assert all(response.status_code >= 500 for response in responses)
    assert await sandbox.ledger() == []


async def test_faults_never_touch_the_control_surface(sandbox: Harness) -> None:
    await sandbox.knobs(fault="error=500")

    response = await sandbox.client.get("/_sandbox/health", headers={"x-sandbox-fault": "html502"})

    assert response.status_code == 200


async def test_unknown_fault_header_is_rejected(sandbox: Harness) -> None:
    response = await sandbox.post("/sale", card_body(), **{"x-sandbox-fault": "explode"})

    assert response.status_code == 400
    assert "unknown fault" in response.json()["sandboxError"]


async def test_knobs_round_trip_validate_and_reset(sandbox: Harness) -> None:
    await sandbox.knobs(latency_ms=5, duplicate_webhooks=True)
    assert (await sandbox.client.get("/_sandbox/knobs")).json()["duplicate_webhooks"] is True

    bad_rate = await sandbox.client.put("/_sandbox/knobs", json={"error_rate": 2})
    bad_fault = await sandbox.client.put("/_sandbox/knobs", json={"fault": "explode"})
    unknown = await sandbox.client.put("/_sandbox/knobs", json={"nope": True})
    assert (bad_rate.status_code, bad_fault.status_code, unknown.status_code) == (422, 422, 422)

    await sandbox.sale()
    assert (await sandbox.client.post("/_sandbox/reset")).json() == {"reset": True}
    knobs = (await sandbox.client.get("/_sandbox/knobs")).json()
    assert (knobs["latency_ms"], knobs["duplicate_webhooks"]) == (0, False)
    assert await sandbox.ledger() == []
    assert (await sandbox.webhook_log())["events"] == []


async def test_knob_defaults_come_from_settings(make_harness: MakeHarness) -> None:
    harness = await make_harness(fault="html502", fault_paths=["/refund"], duplicate_webhooks=True)

    knobs = (await harness.client.get("/_sandbox/knobs")).json()

    assert (knobs["fault"], knobs["fault_paths"], knobs["duplicate_webhooks"]) == (
        "html502",
        ["/refund"],
        True,
    )
