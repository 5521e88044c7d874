"""After the checkout: a payment collection of an order that has no cart (an order edit's pending difference,
a claim's or an exchange's) is paid through the storefront routes with ``payment_collection_id``, under the
same rules as a cart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from app.models import Payment, WebhookOutbox
from devtools.medusa_rows import (
    CollectionRows,
    create_cart,
    create_order,
    create_order_collection,
    create_publishable_key,
)
from tests.support.stack import APPROVED_CARD, DECLINED_CARD, Stack, dec, open_stack
from tests.support.threeds import BROWSER, CHALLENGE_CARD, SHOP, answer_challenge

API = "/api/v1/netvalve"
MEDUSA_HOOK = "http://medusa.test/hooks/payment/netvalve_netvalve"
# One more item of 19.99 EUR with 19 % tax, as a real 2.21.2 order edit leaves the pending difference.
DIFFERENCE = Decimal("23.7881")


async def _collection(stack: Stack, **kwargs: Any) -> CollectionRows:
    order_fields = {k: kwargs.pop(k) for k in ("sales_channel_id",) if k in kwargs}
    order = await create_order(stack.conn, **order_fields)
    return await create_order_collection(stack.conn, order.order_id, **kwargs)


async def _session(stack: Stack, collection: CollectionRows, **headers: str) -> httpx.Response:
    return await stack.client.post(
        f"{API}/hpf/session",
        json={"payment_collection_id": collection.payment_collection_id},
        headers={**stack.storefront, **headers},
    )


async def _token(stack: Stack, collection: CollectionRows, card: str = APPROVED_CARD) -> str:
    session = await _session(stack, collection)
    assert session.status_code == 200, session.text
    token: str = session.json()["hpf"]["payment_token"]
    tokenized = await stack.nv.post(
        "/_sandbox/tokenize",
        json={
            "paymentToken": token,
            "cardNumber": card,
            "expiryMonth": "12",
            "expiryYear": "2030",
            "cvv": "999",
        },
    )
    assert tokenized.status_code == 200, tokenized.text
    return token


async def _pay(stack: Stack, collection: CollectionRows, token: str, **extra: Any) -> httpx.Response:
    return await stack.client.post(
        f"{API}/payment",
        json={"payment_collection_id": collection.payment_collection_id, "payment_token": token, **extra},
        headers=stack.storefront,
    )


async def _status(stack: Stack, collection: CollectionRows, headers: dict[str, str]) -> httpx.Response:
    return await stack.client.get(
        f"{API}/status", params={"payment_collection_id": collection.payment_collection_id}, headers=headers
    )


async def _sales(stack: Stack) -> list[dict[str, Any]]:
    return [t for t in await stack.sandbox_transactions() if t["type"] in ("SALE", "AUTHORIZE")]


async def _outbox(stack: Stack) -> list[tuple[str, str, str]]:
    async with stack.app.state.sessionmaker() as session:
        rows = (await session.execute(select(WebhookOutbox).order_by(WebhookOutbox.id))).scalars().all()
    return [(r.action, r.payload["data"]["session_id"], r.payload["data"]["amount"]) for r in rows]


@pytest.fixture
async def shop(db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection) -> AsyncIterator[Stack]:
    async for s in open_stack(db, nv_http, medusa_conn, medusa_webhook_url=MEDUSA_HOOK):
        yield s


async def test_an_order_edit_difference_is_charged_for_medusas_amount_and_medusa_hears_it(
    shop: Stack,
) -> None:
    collection = await _collection(shop, amount=DIFFERENCE)

    session = await _session(shop, collection)
    assert session.status_code == 200, session.text
    assert session.json()["payment_collection_id"] == collection.payment_collection_id
    assert session.json()["cart_id"] is None
    assert session.json()["payment_session_id"] == collection.payment_session_id
    assert (dec(session.json()["amount"]), session.json()["currency_code"]) == (Decimal("23.79"), "EUR")

    paid = await _pay(shop, collection, await _token(shop, collection))

    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert paid.json()["payment_collection_id"] == collection.payment_collection_id
    [sale] = await _sales(shop)
    assert dec(sale["amount"]) == Decimal("23.79")
    assert await _outbox(shop) == [("captured", collection.payment_session_id, str(DIFFERENCE))]
    storefront = await _status(shop, collection, shop.storefront)
    assert storefront.json() == {"status": "captured", "source": "ledger"}
    full = (await _status(shop, collection, shop.service)).json()
    assert full["payment_collection_id"] == collection.payment_collection_id
    assert full["cart_id"] is None
    assert dec(full["medusa_amount"]) == DIFFERENCE
    assert dec(full["captured_amount"]) == Decimal("23.79")


async def test_in_authorize_mode_medusa_hears_the_authorization_and_the_backend_captures_it(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(
        db, nv_http, medusa_conn, medusa_webhook_url=MEDUSA_HOOK, netvalve_capture_mode="authorize"
    ):
        collection = await _collection(stack, amount=DIFFERENCE)
        paid = await _pay(stack, collection, await _token(stack, collection))
        assert paid.json()["status"] == "authorized", paid.text

        captured = await stack.client.post(
            f"{API}/capture",
            json={"payment_session_id": collection.payment_session_id},
            headers=stack.service,
        )

        assert captured.status_code == 200, captured.text
        assert captured.json()["payment_collection_id"] == collection.payment_collection_id
        assert [action for action, _, _ in await _outbox(stack)] == ["authorized", "captured"]
        assert {amount for _, _, amount in await _outbox(stack)} == {str(DIFFERENCE)}


async def test_a_key_of_another_sales_channel_is_answered_as_if_the_collection_did_not_exist(
    stack: Stack,
) -> None:
    collection = await _collection(stack, sales_channel_id="sc_eu")
    other = {"x-publishable-api-key": await create_publishable_key(stack.conn, sales_channel_ids=("sc_us",))}

    for refused in (
        await _session(stack, collection, **other),
        await stack.client.get(
            f"{API}/hpf/session",
            params={"payment_collection_id": collection.payment_collection_id},
            headers=other,
        ),
        await stack.client.post(
            f"{API}/payment",
            json={"payment_collection_id": collection.payment_collection_id, "payment_token": "tok-any"},
            headers=other,
        ),
    ):
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "payment_collection_not_found"
    assert await _sales(stack) == []

    own = {"x-publishable-api-key": await create_publishable_key(stack.conn, sales_channel_ids=("sc_eu",))}
    paid = await stack.client.post(
        f"{API}/payment",
        json={
            "payment_collection_id": collection.payment_collection_id,
            "payment_token": await _token_with(stack, collection, own),
        },
        headers=own,
    )
    assert paid.status_code == 200, paid.text
    assert (await _status(stack, collection, other)).status_code == 404
    assert (await _status(stack, collection, own)).json()["status"] == "captured"


async def _token_with(stack: Stack, collection: CollectionRows, headers: dict[str, str]) -> str:
    session = await _session(stack, collection, **headers)
    assert session.status_code == 200, session.text
    token: str = session.json()["hpf"]["payment_token"]
    await stack.nv.post(
        "/_sandbox/tokenize",
        json={
            "paymentToken": token,
            "cardNumber": APPROVED_CARD,
            "expiryMonth": "12",
            "expiryYear": "2030",
            "cvv": "999",
        },
    )
    return token


@pytest.mark.parametrize("status", ["completed", "authorized"])
async def test_a_collection_medusa_holds_paid_is_refused(stack: Stack, status: str) -> None:
    collection = await _collection(stack, status=status)

    session = await _session(stack, collection)
    paid = await _pay(stack, collection, "tok-any")

    for refused in (session, paid):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "payment_collection_paid"
    assert await _sales(stack) == []


async def test_a_collection_the_ledger_holds_a_payment_for_is_not_paid_twice(stack: Stack) -> None:
    collection = await _collection(stack)
    token = await _token(stack, collection)
    assert (await _pay(stack, collection, token)).status_code == 200

    again = await _session(stack, collection)
    paid_again = await _pay(stack, collection, token)

    assert again.status_code == paid_again.status_code == 409, again.text
    assert again.json()["error"]["code"] == paid_again.json()["error"]["code"] == "payment_collection_paid"
    assert len(await _sales(stack)) == 1


async def test_a_canceled_collection_is_refused(stack: Stack) -> None:
    collection = await _collection(stack, status="canceled")

    for refused in (await _session(stack, collection), await _pay(stack, collection, "tok-any")):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "payment_collection_canceled"


async def test_a_collection_of_a_cart_or_without_an_order_is_not_found(stack: Stack) -> None:
    cart = await create_cart(stack.conn)
    assert cart.payment_collection_id is not None
    unlinked = await _collection(stack, link_deleted=True)

    for collection_id in (cart.payment_collection_id, unlinked.payment_collection_id, "pay_col_01UNKNOWN"):
        response = await stack.client.post(
            f"{API}/hpf/session", json={"payment_collection_id": collection_id}, headers=stack.storefront
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "payment_collection_not_found"


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("POST", "/hpf/session", {}),
        ("GET", "/hpf/session", {}),
        ("POST", "/payment", {"payment_token": "tok-any"}),
        ("POST", "/threeds/finish", {"payment_token": "tok-any"}),
        ("GET", "/status", {}),
    ],
)
async def test_both_ids_or_neither_is_a_validation_error(
    stack: Stack, method: str, path: str, extra: dict[str, str]
) -> None:
    both = {"cart_id": "cart_01A", "payment_collection_id": "pay_col_01A", **extra}
    cases = [both] if path == "/status" else [both, extra]
    for fields in cases:
        if method == "GET":
            response = await stack.client.get(f"{API}{path}", params=fields, headers=stack.storefront)
        else:
            response = await stack.client.post(f"{API}{path}", json=fields, headers=stack.storefront)
        assert response.status_code == 422, (fields, response.text)
        assert response.json()["error"]["code"] == "validation_error"


async def test_the_amount_never_comes_from_the_caller(stack: Stack) -> None:
    collection = await _collection(stack)
    response = await _pay(stack, collection, "tok-any", amount="0.01")
    assert response.status_code == 422
    assert await _sales(stack) == []


async def test_declines_count_against_the_collections_attempt_cap(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(db, nv_http, medusa_conn, payment_attempts_per_cart=2):
        collection = await _collection(stack)
        for _ in range(2):
            declined = await _pay(stack, collection, await _token(stack, collection, DECLINED_CARD))
            assert declined.json()["error"]["code"] == "card_declined", declined.text

        capped = await _pay(stack, collection, await _token(stack, collection, APPROVED_CARD))

        assert capped.status_code == 429, capped.text
        assert capped.json()["error"]["code"] == "payment_attempts_exceeded"
        assert len(await _sales(stack)) == 2


async def test_a_lost_answer_is_settled_by_reconciliation_without_a_second_charge(stack: Stack) -> None:
    collection = await _collection(stack, amount=DIFFERENCE)
    token = await _token(stack, collection)
    await stack.knobs(fault="timeout", fault_paths=["/sale"], fault_after_commit=True)
    lost = await _pay(stack, collection, token)
    assert lost.status_code == 202, lost.text
    assert lost.json()["status"] == "unknown"
    await stack.knobs(fault=None, fault_paths=[])

    stack.app.state.settings.reconcile_min_age_seconds = 0
    reconciled = await stack.client.post(f"{API}/reconcile", json={}, headers=stack.service)

    assert reconciled.json()["settled"] == 1, reconciled.text
    assert (await _status(stack, collection, stack.service)).json()["status"] == "captured"
    assert len(await _sales(stack)) == 1
    async with stack.app.state.sessionmaker() as session:
        [payment] = (await session.execute(select(Payment))).scalars().all()
    assert (payment.cart_id, payment.payment_collection_id) == (None, collection.payment_collection_id)


async def test_a_challenge_for_a_collection_is_finished_with_its_id(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(db, nv_http, medusa_conn, netvalve_threeds="on", store_cors=SHOP):
        collection = await _collection(stack, amount=Decimal("80.00"))
        token = await _token(stack, collection, CHALLENGE_CARD)
        started = await _pay(stack, collection, token, browser=BROWSER)
        assert started.json()["next_action"]["type"] == "threeds_challenge", started.text
        await answer_challenge(stack, started.json()["next_action"], "complete")

        finished = await stack.client.post(
            f"{API}/threeds/finish",
            json={"payment_collection_id": collection.payment_collection_id, "payment_token": token},
            headers=stack.storefront,
        )

        assert finished.status_code == 200, finished.text
        assert finished.json()["status"] == "captured"
        [sale] = await _sales(stack)
        assert dec(sale["amount"]) == Decimal("80.00")


async def test_a_collection_without_a_netvalve_session_is_refused_before_anything_is_charged(
    shop: Stack,
) -> None:
    # Medusa hears a collection's payment only through its session (no cart completion authorizes one).
    collection = await _collection(shop, with_session=False)

    for refused in (await _session(shop, collection), await _pay(shop, collection, "tok-any")):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "payment_session_missing"
    assert await _sales(shop) == []


async def test_the_providers_status_call_for_the_collections_session_answers_from_the_ledger(
    shop: Stack,
) -> None:
    collection = await _collection(shop, amount=DIFFERENCE)
    assert (await _pay(shop, collection, await _token(shop, collection))).status_code == 200

    status = await shop.client.get(
        f"{API}/status", params={"payment_session_id": collection.payment_session_id}, headers=shop.service
    )

    assert status.status_code == 200, status.text
    assert status.json()["status"] == "captured"
    assert status.json()["payment_collection_id"] == collection.payment_collection_id
    assert dec(status.json()["medusa_amount"]) == DIFFERENCE


async def _medusa_sets_the_amount_due(stack: Stack, collection: CollectionRows, amount: Decimal) -> None:
    """What Medusa 2.21.2 does when an exchange's return is received (updatePaymentCollectionStep): the
    unpaid collection's amount changes, and its payment session keeps the amount it was made with."""
    await stack.conn.execute(
        "UPDATE payment_collection SET amount = $2, raw_amount = $3::jsonb WHERE id = $1",
        collection.payment_collection_id,
        amount,
        f'{{"value": "{amount}", "precision": 20}}',
    )


async def test_a_session_made_before_the_exchanges_return_was_received_is_not_charged_its_old_amount(
    shop: Stack,
) -> None:
    collection = await _collection(shop, amount=Decimal("20.50"))
    token = await _token(shop, collection)
    await _medusa_sets_the_amount_due(shop, collection, Decimal("10.50"))

    for refused in (await _session(shop, collection), await _pay(shop, collection, token)):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "payment_amount_mismatch"
    assert await _sales(shop) == []


async def test_a_payment_started_before_the_exchanges_return_was_received_meets_the_amount_mismatch(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(db, nv_http, medusa_conn, netvalve_threeds="on", store_cors=SHOP):
        collection = await _collection(stack, amount=Decimal("80.00"))
        token = await _token(stack, collection, CHALLENGE_CARD)
        started = await _pay(stack, collection, token, browser=BROWSER)
        assert started.json()["next_action"]["type"] == "threeds_challenge", started.text
        await answer_challenge(stack, started.json()["next_action"], "complete")
        await _medusa_sets_the_amount_due(stack, collection, Decimal("60.00"))

        status = await stack.client.get(
            f"{API}/status",
            params={"payment_session_id": collection.payment_session_id},
            headers=stack.service,
        )
        finished = await stack.client.post(
            f"{API}/threeds/finish",
            json={"payment_collection_id": collection.payment_collection_id, "payment_token": token},
            headers=stack.storefront,
        )

        for refused in (status, finished):
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["code"] == "payment_amount_mismatch"
        details = status.json()["error"]["details"]
        assert (dec(details["ledger_amount"]), dec(details["medusa_amount"])) == (Decimal(80), Decimal(60))
        assert await _sales(stack) == []
