"""An ``Idempotency-Key`` keeps final answers only (issue 25, item 1): an answer that says "try again" is not
replayed to the retry it asks for, and an answer that records money moving or a final refusal still is."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.support.scripted import reaches_netvalve_after
from tests.support.stack import OpenScripted, Stack

API = "/api/v1/netvalve"
REPLAYED = "idempotent-replayed"


async def _of_type(stack: Stack, kind: str) -> list[dict[str, Any]]:
    return [t for t in await stack.sandbox_transactions() if t["type"] == kind]


async def test_a_cancel_refused_while_an_operation_runs_is_done_when_retried_after_it(
    scripted: OpenScripted,
) -> None:
    stack, transport = await scripted(netvalve_capture_mode="authorize")
    cart = await stack.cart(amount=Decimal("20.00"))
    txn = await stack.paid_transaction(cart)

    # A capture is on the wire, and NetValve will decline it: the authorization stays to be voided.
    release, started = asyncio.Event(), asyncio.Event()
    transport.once("/capture", reaches_netvalve_after(release, started))
    await stack.knobs(fault="decline=BNK_2005", fault_paths=["/capture"])
    capturing = asyncio.create_task(
        stack.client.post(f"{API}/capture", json={"transaction_id": txn}, headers=stack.service)
    )
    await started.wait()

    # Medusa's cancelPayment: its idempotency key is the payment's id, the same on every retry.
    cancel = {"payment_session_id": cart.payment_session_id}
    headers = {**stack.service, "Idempotency-Key": "pay_01MEDUSAPAYMENT"}
    refused = await stack.client.post(f"{API}/cancel", json=cancel, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "operation_in_progress"

    release.set()
    declined = await capturing
    assert declined.status_code == 402, declined.text
    await stack.knobs(fault=None, fault_paths=[])

    retried = await stack.client.post(f"{API}/cancel", json=cancel, headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.headers.get(REPLAYED) is None
    assert retried.json()["status"] == "canceled"
    assert len(await _of_type(stack, "CANCEL")) == 1

    # Now final: replayed, never sent again.
    again = await stack.client.post(f"{API}/cancel", json=cancel, headers=headers)
    assert (again.status_code, again.headers.get(REPLAYED)) == (200, "true")
    assert again.json() == retried.json()
    assert len(await _of_type(stack, "CANCEL")) == 1


async def test_a_cancel_netvalve_refused_as_it_stood_is_sent_again_on_retry(scripted: OpenScripted) -> None:
    stack, _ = await scripted(netvalve_capture_mode="authorize", netvalve_max_retries=0)
    cart = await stack.cart(amount=Decimal("20.00"))
    await stack.paid_transaction(cart)
    cancel = {"payment_session_id": cart.payment_session_id}
    headers = {**stack.service, "Idempotency-Key": "pay_01MEDUSAREJECTED"}

    # NetValve refused our credentials (a rotation half done): it certainly did nothing.
    await stack.knobs(fault="error=401", fault_paths=["/cancel"])
    refused = await stack.client.post(f"{API}/cancel", json=cancel, headers=headers)
    assert refused.status_code == 502, refused.text
    assert refused.json()["error"]["code"] == "gateway_rejected"
    await stack.knobs(fault=None, fault_paths=[])

    retried = await stack.client.post(f"{API}/cancel", json=cancel, headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "canceled"
    assert len(await _of_type(stack, "CANCEL")) == 1


async def test_a_final_refusal_is_replayed_not_run_again(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("20.00"))
    txn = await stack.paid_transaction(cart)
    headers = {**stack.service, "Idempotency-Key": "ref_01TOOMUCH"}
    body = {"transaction_id": txn, "amount": "25.00"}

    refused = await stack.client.post(f"{API}/refund", json=body, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "refund_exceeds_captured"

    again = await stack.client.post(f"{API}/refund", json=body, headers=headers)
    assert (again.status_code, again.headers.get(REPLAYED)) == (422, "true")
    assert again.json()["error"]["code"] == "refund_exceeds_captured"
    assert await _of_type(stack, "REFUND") == []
