"""Refunds made in NetValve's back office can be recorded in Medusa (issue 25, item 4): Medusa's refund of a
refund the ledger already holds and Medusa does not is answered done with no new NetValve call; a refund
Medusa already recorded is never merged with a new one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from devtools.medusa_rows import CartRows, create_payment, create_refund
from tests.support.stack import Stack, dec

API = "/api/v1/netvalve"


async def _refunds_at_netvalve(stack: Stack) -> list[dict[str, Any]]:
    return [t for t in await stack.sandbox_transactions() if t["type"] == "REFUND"]


async def _captured_in_medusa(stack: Stack, cart: CartRows, amount: Decimal) -> tuple[int, str]:
    """Paid through the service; Medusa's payment row for the session, captured."""
    cart_txn = await stack.paid_transaction(cart)
    assert cart.payment_session_id is not None
    payment_id = await create_payment(
        stack.conn, payment_session_id=cart.payment_session_id, captured_at=datetime.now(UTC)
    )
    return cart_txn, payment_id


async def _refunded_in_back_office(stack: Stack, cart: CartRows, txn: int, amount: str) -> None:
    """Refunded at NetValve directly, then learned by the ledger through a look-up."""
    refunded = await stack.netvalve("/refund", {"transactionID": txn, "amount": float(amount)})
    assert refunded["responseCode"] == "GTW_1000", refunded
    looked = await stack.client.get(
        f"{API}/status", params={"cart_id": cart.cart_id, "refresh": "true"}, headers=stack.service
    )
    assert looked.status_code == 200, looked.text
    assert dec(looked.json()["refunded_amount"]) == Decimal(amount)


async def _medusa_refunds(stack: Stack, cart: CartRows, payment_id: str, amount: str) -> httpx.Response:
    """What Medusa's refundPaymentWorkflow does: insert the refund row, then call the provider with the row's
    id as the idempotency key and its raw amount."""
    refund_id = await create_refund(stack.conn, payment_id=payment_id, amount=Decimal(amount))
    return await _provider_refunds(stack, cart, refund_id, amount)


async def _provider_refunds(stack: Stack, cart: CartRows, refund_id: str, amount: str) -> httpx.Response:
    return await stack.client.post(
        f"{API}/refund",
        json={"payment_session_id": cart.payment_session_id, "amount": {"value": amount, "precision": 20}},
        headers={**stack.service, "Idempotency-Key": refund_id},
    )


async def test_medusa_records_a_back_office_refund_without_a_second_one(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("40.00"))
    txn, medusa_payment = await _captured_in_medusa(stack, cart, Decimal("40.00"))
    await _refunded_in_back_office(stack, cart, txn, "15.00")

    recorded = await _medusa_refunds(stack, cart, medusa_payment, "15")
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["already_done"] is True
    assert dec(recorded.json()["refunded_amount"]) == Decimal("15.00")
    assert len(await _refunds_at_netvalve(stack)) == 1

    # A second refund of the same amount is a real one: the back-office refund is recorded once.
    second = await _medusa_refunds(stack, cart, medusa_payment, "15")
    assert second.status_code == 200, second.text
    assert second.json()["already_done"] is False
    assert dec(second.json()["refunded_amount"]) == Decimal("30.00")
    assert len(await _refunds_at_netvalve(stack)) == 2

    # And no more than what was captured, as always.
    third = await _medusa_refunds(stack, cart, medusa_payment, "15")
    assert third.status_code == 422, third.text
    assert third.json()["error"]["code"] == "refund_exceeds_captured"
    assert len(await _refunds_at_netvalve(stack)) == 2


async def test_a_fully_refunded_payment_is_recorded_in_medusa(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("40.00"))
    txn, medusa_payment = await _captured_in_medusa(stack, cart, Decimal("40.00"))
    await _refunded_in_back_office(stack, cart, txn, "40.00")

    recorded = await _medusa_refunds(stack, cart, medusa_payment, "40")
    assert recorded.status_code == 200, recorded.text
    assert (recorded.json()["status"], recorded.json()["already_done"]) == ("refunded", True)
    assert len(await _refunds_at_netvalve(stack)) == 1


async def test_a_back_office_refund_medusa_already_recorded_is_not_taken_again(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("40.00"))
    txn, medusa_payment = await _captured_in_medusa(stack, cart, Decimal("40.00"))
    await _refunded_in_back_office(stack, cart, txn, "15.00")
    # Medusa holds a refund of that amount already (recorded before this service could tie it to a call).
    await create_refund(stack.conn, payment_id=medusa_payment, amount=Decimal("15"))

    refunded = await _medusa_refunds(stack, cart, medusa_payment, "15")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["already_done"] is False
    assert dec(refunded.json()["refunded_amount"]) == Decimal("30.00")
    assert len(await _refunds_at_netvalve(stack)) == 2

    capped = await _medusa_refunds(stack, cart, medusa_payment, "15")
    assert capped.status_code == 422, capped.text
    assert capped.json()["error"]["code"] == "refund_exceeds_captured"


async def test_a_refund_no_medusa_refund_names_is_made_as_always(stack: Stack) -> None:
    """An operator's refund with the service key (no Medusa refund row) is never answered from the ledger."""
    cart = await stack.cart(amount=Decimal("40.00"))
    txn, _ = await _captured_in_medusa(stack, cart, Decimal("40.00"))
    await _refunded_in_back_office(stack, cart, txn, "15.00")

    refunded = await stack.client.post(
        f"{API}/refund",
        json={"transaction_id": txn, "amount": "15.00"},
        headers={**stack.service, "Idempotency-Key": "ops-refund-1"},
    )
    assert refunded.status_code == 200, refunded.text
    assert dec(refunded.json()["refunded_amount"]) == Decimal("30.00")
    assert len(await _refunds_at_netvalve(stack)) == 2


async def test_two_medusa_refunds_at_once_record_the_back_office_refund_once(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("40.00"))
    txn, medusa_payment = await _captured_in_medusa(stack, cart, Decimal("40.00"))
    await _refunded_in_back_office(stack, cart, txn, "15.00")
    first = await create_refund(stack.conn, payment_id=medusa_payment, amount=Decimal("15"))
    second = await create_refund(stack.conn, payment_id=medusa_payment, amount=Decimal("15"))

    answers = list(
        await asyncio.gather(
            _provider_refunds(stack, cart, first, "15"), _provider_refunds(stack, cart, second, "15")
        )
    )
    # One may find the other's refund on the wire (409 operation_in_progress): Medusa's retry runs again.
    for i, (refund_id, answer) in enumerate(zip((first, second), answers, strict=True)):
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "operation_in_progress"
            answers[i] = await _provider_refunds(stack, cart, refund_id, "15")
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert sorted(a.json()["already_done"] for a in answers) == [False, True]
    assert len(await _refunds_at_netvalve(stack)) == 2
