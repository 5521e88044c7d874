"""Checkout flows end to end: the service, a real database with Medusa rows, and the NetValve sandbox."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.models import Payment
from devtools.medusa_rows import complete_cart
from tests.support.stack import DECLINED_CARD, Stack, dec


async def test_sale_charges_exactly_medusas_amount_and_answers_captured(stack: Stack) -> None:
    cart = await stack.cart(currency="eur", amount=Decimal("19.99"))
    token = await stack.token_for(cart)

    response = await stack.pay(cart, token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "captured"
    assert dec(body["amount"]) == Decimal("19.99")
    assert body["currency_code"] == "EUR"
    async with stack.app.state.sessionmaker() as db:
        card = await db.scalar(select(Payment.card_masked).where(Payment.cart_id == cart.cart_id))
    assert card == "401200******5439"
    sales = [t for t in await stack.sandbox_transactions() if t["type"] == "SALE"]
    assert len(sales) == 1
    assert dec(sales[0]["amount"]) == Decimal("19.99")
    assert sales[0]["clientOrderId"] == f"{cart.payment_session_id}-1"


@pytest.mark.parametrize(
    ("amount", "numeric"),
    [
        (Decimal("0.01"), None),
        (Decimal("1234567.89"), None),
        (Decimal("19.99"), Decimal("19.98")),
    ],
)
async def test_amount_sent_is_the_raw_medusa_amount_to_the_cent(
    stack: Stack, amount: Decimal, numeric: Decimal | None
) -> None:
    cart = await stack.cart(amount=amount, numeric_amount=numeric)
    response = await stack.pay(cart, await stack.token_for(cart))
    assert response.status_code == 200, response.text
    sale = next(t for t in await stack.sandbox_transactions() if t["type"] == "SALE")
    assert dec(sale["amount"]) == amount


async def test_paying_a_paid_cart_returns_the_existing_result_without_a_second_charge(stack: Stack) -> None:
    cart = await stack.cart()
    first = await stack.pay(cart, await stack.token_for(cart))
    second = await stack.pay(cart, "another-token")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert len([t for t in await stack.sandbox_transactions() if t["type"] == "SALE"]) == 1


async def test_declined_card_is_402_and_can_be_retried_under_a_new_reference(stack: Stack) -> None:
    cart = await stack.cart()
    declined = await stack.pay(cart, await stack.token_for(cart, DECLINED_CARD))
    assert declined.status_code == 402, declined.text
    assert declined.json()["error"]["code"] == "card_declined"

    retry = await stack.pay(cart, await stack.token_for(cart))
    assert retry.status_code == 200, retry.text
    sales = [t for t in await stack.sandbox_transactions() if t["type"] == "SALE"]
    assert [t["clientOrderId"] for t in sales] == [
        f"{cart.payment_session_id}-1",
        f"{cart.payment_session_id}-2",
    ]


async def test_no_token_yet_answers_requires_more_without_a_gateway_call(stack: Stack) -> None:
    cart = await stack.cart()
    response = await stack.client.post(
        "/api/v1/netvalve/payment", json={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert response.status_code == 200
    assert response.json()["status"] == "requires_more"
    assert await stack.sandbox_transactions() == []


@pytest.mark.parametrize("field", ["amount", "currency_code", "card_number", "cvv"])
async def test_payment_refuses_client_amounts_and_card_data(stack: Stack, field: str) -> None:
    cart = await stack.cart()
    response = await stack.client.post(
        "/api/v1/netvalve/payment",
        json={"cart_id": cart.cart_id, "payment_token": "t", field: "1.00"},
        headers=stack.storefront,
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert await stack.sandbox_transactions() == []


async def test_token_issued_for_another_cart_is_refused(stack: Stack) -> None:
    cart_a = await stack.cart()
    cart_b = await stack.cart()
    token_a = await stack.token_for(cart_a)
    response = await stack.pay(cart_b, token_a)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_token_cart_mismatch"
    assert await stack.sandbox_transactions() == []


async def test_authorize_partial_capture_then_two_refunds_add_up_exactly(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart(amount=Decimal("100.00"))
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "authorized"
    txn = await stack.transaction_id(cart)

    capture = await stack.client.post(
        "/api/v1/netvalve/capture", json={"transaction_id": txn, "amount": "60.00"}, headers=stack.service
    )
    assert capture.status_code == 200, capture.text
    assert dec(capture.json()["captured_amount"]) == Decimal("60.00")

    over_capture = await stack.client.post(
        "/api/v1/netvalve/capture", json={"transaction_id": txn, "amount": 1}, headers=stack.service
    )
    assert over_capture.status_code == 200
    assert over_capture.json()["already_done"] is True

    first = await stack.client.post(
        "/api/v1/netvalve/refund",
        json={"payment_session_id": cart.payment_session_id, "amount": {"value": "25.5", "precision": 20}},
        headers=stack.service,
    )
    assert first.status_code == 200, first.text
    second = await stack.client.post(
        "/api/v1/netvalve/refund", json={"transaction_id": txn, "amount": 34.5}, headers=stack.service
    )
    assert second.status_code == 200, second.text
    assert dec(second.json()["refunded_amount"]) == Decimal("60.00")

    too_much = await stack.client.post(
        "/api/v1/netvalve/refund", json={"transaction_id": txn, "amount": "0.01"}, headers=stack.service
    )
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "refund_exceeds_captured"
    kinds = [t["type"] for t in await stack.sandbox_transactions()]
    assert kinds.count("CAPTURE") == 1
    assert kinds.count("REFUND") == 2


async def test_capture_more_than_authorized_is_422_without_a_gateway_call(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart(amount=Decimal("10.00"))
    txn = await stack.paid_transaction(cart)
    response = await stack.client.post(
        "/api/v1/netvalve/capture", json={"transaction_id": txn, "amount": "10.01"}, headers=stack.service
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "capture_exceeds_authorized"
    assert "CAPTURE" not in [t["type"] for t in await stack.sandbox_transactions()]


async def test_cancel_voids_an_authorization_and_is_idempotent(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart()
    txn = await stack.paid_transaction(cart)
    first = await stack.client.post(
        "/api/v1/netvalve/cancel", json={"transaction_id": txn}, headers=stack.service
    )
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "canceled"
    again = await stack.client.post(
        "/api/v1/netvalve/cancel", json={"transaction_id": txn}, headers=stack.service
    )
    assert again.status_code == 200
    assert again.json()["already_done"] is True
    capture = await stack.client.post(
        "/api/v1/netvalve/capture", json={"transaction_id": txn}, headers=stack.service
    )
    assert capture.status_code == 409
    assert capture.json()["error"]["code"] == "invalid_transition"
    assert [t["type"] for t in await stack.sandbox_transactions()].count("CANCEL") == 1


async def test_cancelling_a_captured_payment_points_to_refund(stack: Stack) -> None:
    cart = await stack.cart()
    txn = await stack.paid_transaction(cart)
    response = await stack.client.post(
        "/api/v1/netvalve/cancel", json={"transaction_id": txn}, headers=stack.service
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_captured_use_refund"


async def test_refund_of_an_uncaptured_authorization_is_a_forbidden_transition(
    authorize_stack: Stack,
) -> None:
    stack = authorize_stack
    cart = await stack.cart()
    txn = await stack.paid_transaction(cart)
    response = await stack.client.post(
        "/api/v1/netvalve/refund", json={"transaction_id": txn}, headers=stack.service
    )
    assert response.status_code == 409
    assert "REFUND" not in [t["type"] for t in await stack.sandbox_transactions()]


async def test_pending_payment_is_settled_by_reconciliation(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("1002.00"))
    response = await stack.pay(cart, await stack.token_for(cart))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"

    status = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id}, headers=stack.service
    )
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "captured"
    assert status.json()["source"] == "netvalve"


async def test_timeout_leaves_unknown_and_reconciliation_settles_without_a_second_charge(
    stack: Stack,
) -> None:
    # NetValve charged, then its edge answered 504 (real read timeouts over a socket: tests/faults).
    cart = await stack.cart()
    token = await stack.token_for(cart)
    await stack.knobs(fault="timeout", fault_paths=["/sale"], fault_after_commit=True)
    response = await stack.client.post(
        "/api/v1/netvalve/payment",
        json={"cart_id": cart.cart_id, "payment_token": token},
        headers={**stack.storefront, "Idempotency-Key": "pay-1"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "unknown"
    await stack.knobs(fault=None, fault_paths=[])

    retry = await stack.client.post(
        "/api/v1/netvalve/payment",
        json={"cart_id": cart.cart_id, "payment_token": token},
        headers={**stack.storefront, "Idempotency-Key": "pay-1"},
    )
    assert retry.content == response.content

    stack.app.state.settings.reconcile_min_age_seconds = 0
    reconciled = await stack.client.post("/api/v1/netvalve/reconcile", json={}, headers=stack.service)
    assert reconciled.status_code == 200, reconciled.text
    assert reconciled.json()["settled"] == 1
    status = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id}, headers=stack.service
    )
    assert status.json()["status"] == "captured"
    assert len([t for t in await stack.sandbox_transactions() if t["type"] == "SALE"]) == 1


async def test_idempotent_replay_is_byte_identical_and_a_changed_body_is_422(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart(amount=Decimal("50.00"))
    txn = await stack.paid_transaction(cart)
    headers = {**stack.service, "Idempotency-Key": "cap-1"}
    first = await stack.client.post(
        "/api/v1/netvalve/capture", json={"transaction_id": txn, "amount": "20.00"}, headers=headers
    )
    replay = await stack.client.post(
        "/api/v1/netvalve/capture", json={"transaction_id": txn, "amount": "20.00"}, headers=headers
    )
    assert first.status_code == replay.status_code == 200
    assert replay.content == first.content
    assert replay.headers["idempotent-replayed"] == "true"
    changed = await stack.client.post(
        "/api/v1/netvalve/capture", json={"transaction_id": txn, "amount": "30.00"}, headers=headers
    )
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert [t["type"] for t in await stack.sandbox_transactions()].count("CAPTURE") == 1


async def test_concurrent_captures_give_exactly_one_success(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart()
    txn = await stack.paid_transaction(cart)
    await stack.knobs(latency_ms=100)
    responses = await asyncio.gather(
        *(
            stack.client.post("/api/v1/netvalve/capture", json={"transaction_id": txn}, headers=stack.service)
            for _ in range(5)
        )
    )
    codes = sorted(r.status_code for r in responses)
    fresh = [r for r in responses if r.status_code == 200 and not r.json()["already_done"]]
    assert len(fresh) == 1, [r.text for r in responses]
    assert set(codes) <= {200, 409}
    assert [t["type"] for t in await stack.sandbox_transactions()].count("CAPTURE") == 1


async def test_concurrent_refunds_never_exceed_the_captured_amount(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("30.00"))
    txn = await stack.paid_transaction(cart)
    await stack.knobs(latency_ms=50)
    responses = await asyncio.gather(
        *(
            stack.client.post(
                "/api/v1/netvalve/refund",
                json={"transaction_id": txn, "amount": "20.00"},
                headers=stack.service,
            )
            for _ in range(4)
        )
    )
    assert [r.status_code for r in responses].count(200) == 1
    refunds = [t for t in await stack.sandbox_transactions() if t["type"] == "REFUND"]
    assert len(refunds) == 1


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/api/v1/netvalve/capture", {}, 401, "unauthenticated"),
        ("/api/v1/netvalve/capture", {"Authorization": "Bearer wrong-key"}, 403, "forbidden"),
        ("/api/v1/netvalve/refund", {}, 401, "unauthenticated"),
        ("/api/v1/netvalve/cancel", {"Authorization": "Bearer wrong-key"}, 403, "forbidden"),
    ],
)
async def test_money_routes_need_a_service_key(
    stack: Stack, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    response = await stack.client.post(path, json={"transaction_id": 1}, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_storefront_routes_need_a_valid_publishable_key(stack: Stack) -> None:
    cart = await stack.cart()
    missing = await stack.client.post("/api/v1/netvalve/hpf/session", json={"cart_id": cart.cart_id})
    wrong = await stack.client.post(
        "/api/v1/netvalve/hpf/session",
        json={"cart_id": cart.cart_id},
        headers={"x-publishable-api-key": "pk_nope"},
    )
    assert missing.status_code == 401
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "forbidden"


async def test_storefront_status_shows_only_the_status(stack: Stack) -> None:
    cart = await stack.cart()
    await stack.pay(cart, await stack.token_for(cart))
    # A settled payment answers from the ledger; a storefront cannot make polling into gateway traffic.
    response = await stack.client.get(
        "/api/v1/netvalve/status",
        params={"cart_id": cart.cart_id, "refresh": "true"},
        headers=stack.storefront,
    )
    assert response.status_code == 200
    assert response.json() == {"status": "captured", "source": "ledger"}


async def test_backend_status_asks_netvalve_only_when_told_to(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart(amount=Decimal("12.50"))
    txn = await stack.paid_transaction(cart)
    # Captured in NetValve's back office, behind the service's back.
    captured = await stack.nv.post(
        "/capture",
        json={"transactionID": txn, "amount": 12.5},
        headers={"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"},
    )
    assert captured.json()["responseCode"] == "GTW_1000", captured.text

    plain = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id}, headers=stack.service
    )
    assert (plain.json()["status"], plain.json()["source"]) == ("authorized", "ledger")
    fresh = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id, "refresh": "true"}, headers=stack.service
    )
    assert (fresh.json()["status"], fresh.json()["source"]) == ("captured", "netvalve")
    assert dec(fresh.json()["captured_amount"]) == Decimal("12.50")


async def test_status_answers_from_the_ledger_when_netvalve_is_down(stack: Stack) -> None:
    cart = await stack.cart()
    await stack.pay(cart, await stack.token_for(cart))
    await stack.knobs(fault="html502", fault_paths=["/inquiry", "/transaction"])
    response = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id, "refresh": "true"}, headers=stack.service
    )
    assert response.status_code == 200
    assert response.json()["source"] == "ledger"
    assert response.json()["status"] == "captured"


async def test_capture_racing_a_cancel_gives_exactly_one_success(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart()
    txn = await stack.paid_transaction(cart)
    await stack.knobs(latency_ms=100)
    capture, cancel = await asyncio.gather(
        stack.client.post("/api/v1/netvalve/capture", json={"transaction_id": txn}, headers=stack.service),
        stack.client.post("/api/v1/netvalve/cancel", json={"transaction_id": txn}, headers=stack.service),
    )
    assert sorted([capture.status_code, cancel.status_code]) == [200, 409]
    kinds = [t["type"] for t in await stack.sandbox_transactions()]
    assert kinds.count("CAPTURE") + kinds.count("CANCEL") == 1


async def test_concurrent_requests_with_one_idempotency_key_run_once(authorize_stack: Stack) -> None:
    stack = authorize_stack
    cart = await stack.cart()
    txn = await stack.paid_transaction(cart)
    await stack.knobs(latency_ms=150)
    headers = {**stack.service, "Idempotency-Key": "same-key"}
    first, second = await asyncio.gather(
        stack.client.post("/api/v1/netvalve/capture", json={"transaction_id": txn}, headers=headers),
        stack.client.post("/api/v1/netvalve/capture", json={"transaction_id": txn}, headers=headers),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["error"]["code"] == "idempotency_request_in_progress"
    assert [t["type"] for t in await stack.sandbox_transactions()].count("CAPTURE") == 1


async def test_lost_refund_answer_after_a_capture_is_settled_once(authorize_stack: Stack) -> None:
    """After authorize-capture NetValve refunds the capture; reconciliation must look there, or a lost
    answer would read as 'never sent' and invite a second refund."""
    stack = authorize_stack
    cart = await stack.cart(amount=Decimal("40.00"))
    txn = await stack.paid_transaction(cart)
    capture = await stack.client.post(
        "/api/v1/netvalve/capture", json={"transaction_id": txn}, headers=stack.service
    )
    assert capture.status_code == 200, capture.text
    capture_id = capture.json()["operation_transaction_id"]

    await stack.knobs(fault="timeout", fault_paths=["/refund"], fault_after_commit=True)
    lost = await stack.client.post(
        "/api/v1/netvalve/refund", json={"transaction_id": txn, "amount": "15.00"}, headers=stack.service
    )
    assert lost.status_code == 202, lost.text
    assert lost.json()["status"] == "unknown"
    await stack.knobs(fault=None, fault_paths=[])

    stack.app.state.settings.reconcile_min_age_seconds = 0
    reconciled = await stack.client.post("/api/v1/netvalve/reconcile", json={}, headers=stack.service)
    assert reconciled.json()["settled"] == 1, reconciled.text
    status = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id}, headers=stack.service
    )
    assert status.json()["status"] == "refunded"
    assert dec(status.json()["refunded_amount"]) == Decimal("15.00")

    refunds = [t for t in await stack.sandbox_transactions() if t["type"] == "REFUND"]
    assert len(refunds) == 1
    assert refunds[0]["parentID"] == capture_id


async def test_a_token_netvalve_does_not_know_is_422_and_a_real_one_still_pays(stack: Stack) -> None:
    cart = await stack.cart()
    refused = await stack.pay(cart, "hpf-token-never-issued")
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_payment_token"
    assert await stack.sandbox_transactions() == []

    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"


async def test_a_look_up_during_a_refund_in_flight_never_counts_it_twice(stack: Stack) -> None:
    """NetValve refunds, then its answer is slow and ends in a 504. A status refresh meanwhile must leave
    the call to its request; reconciliation then records the refund once."""
    cart = await stack.cart(amount=Decimal("40.00"))
    txn = await stack.paid_transaction(cart)
    await stack.knobs(fault="timeout", fault_paths=["/refund"], fault_after_commit=True)

    refund = asyncio.create_task(
        stack.client.post(
            "/api/v1/netvalve/refund", json={"transaction_id": txn, "amount": "15.00"}, headers=stack.service
        )
    )
    await asyncio.sleep(0.1)
    during = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id, "refresh": "true"}, headers=stack.service
    )
    assert during.status_code == 200, during.text
    assert dec(during.json()["refunded_amount"]) == Decimal("0")
    lost = await refund
    assert lost.status_code == 202, lost.text
    await stack.knobs(fault=None, fault_paths=[])

    stack.app.state.settings.reconcile_min_age_seconds = 0
    reconciled = await stack.client.post("/api/v1/netvalve/reconcile", json={}, headers=stack.service)
    assert reconciled.json()["settled"] == 1, reconciled.text
    after = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id}, headers=stack.service
    )
    assert after.json()["status"] == "refunded"
    assert dec(after.json()["refunded_amount"]) == Decimal("15.00")
    assert len([t for t in await stack.sandbox_transactions() if t["type"] == "REFUND"]) == 1


@pytest.mark.parametrize("route", ["refund", "capture", "cancel"])
async def test_a_transaction_id_beyond_the_safe_range_is_422_not_a_database_error(
    stack: Stack, route: str
) -> None:
    response = await stack.client.post(
        f"/api/v1/netvalve/{route}", json={"transaction_id": 2**53}, headers=stack.service
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    status = await stack.client.get(
        "/api/v1/netvalve/status", params={"transaction_id": str(2**63)}, headers=stack.service
    )
    assert status.status_code == 422, status.text


async def _completed_cart_refused(shop: Stack) -> None:
    cart = await shop.cart()
    token = await shop.token_for(cart)
    await complete_cart(shop.conn, cart.cart_id)

    response = await shop.pay(cart, token)

    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "cart_completed"
    assert await shop.sandbox_transactions() == []
    assert await shop.conn.fetchval("SELECT count(*) FROM payments") == 0


async def test_a_cart_completed_after_its_token_was_issued_is_never_charged(stack: Stack) -> None:
    await _completed_cart_refused(stack)


async def test_a_cart_completed_after_its_token_was_issued_is_never_authorized(
    authorize_stack: Stack,
) -> None:
    await _completed_cart_refused(authorize_stack)
