"""3-D Secure v2 before the sale (``NETVALVE_THREEDS=on``): the service, a real database with Medusa rows,
and the NetValve sandbox's 3DS endpoints, test cards and pages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from devtools.medusa_rows import CartRows, complete_cart
from tests.support.stack import Stack, dec, open_stack
from tests.support.threeds import (
    AUTHENTICATION_FAILED_CARD,
    CHALLENGE_CARD,
    CHALLENGE_FAILS_CARD,
    DEVICE_DATA_CHALLENGE_CARD,
    DEVICE_DATA_FRICTIONLESS_CARD,
    FRICTIONLESS_CARD,
    MASTERCARD_CHALLENGE,
    PROVIDER_ERROR_CARD,
    SHOP,
    answer_challenge,
    page_token,
    pay,
    sales,
)

REQUIRED_FOR_AUTHENTICATION = (
    "amount",
    "currency",
    "customerName",
    "customerLastName",
    "customerCountryCode",
    "customerEmail",
    "customerPhone",
)


@pytest.fixture
async def stack(db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection) -> AsyncIterator[Stack]:
    async for s in open_stack(db, nv_http, medusa_conn, netvalve_threeds="on", store_cors=SHOP):
        yield s


async def finish(stack: Stack, cart: CartRows, token: str) -> httpx.Response:
    return await stack.client.post(
        "/api/v1/netvalve/threeds/finish",
        json={"cart_id": cart.cart_id, "payment_token": token},
        headers=stack.storefront,
    )


async def ledger_row(stack: Stack, cart: CartRows) -> asyncpg.Record:
    row = await stack.conn.fetchrow(
        "SELECT * FROM payments WHERE cart_id = $1 ORDER BY id DESC LIMIT 1", cart.cart_id
    )
    assert row is not None
    return row


async def threeds_sessions(stack: Stack) -> list[dict[str, Any]]:
    """What the sandbox's 3DS calls received, as NetValve would have seen it."""
    response = await stack.nv.get("/_sandbox/threeds")
    assert response.status_code == 200, response.text
    sessions: list[dict[str, Any]] = json.loads(response.text, parse_float=Decimal)
    return sessions


async def storefront_status(stack: Stack, cart: CartRows) -> str:
    response = await stack.client.get(
        "/api/v1/netvalve/status", params={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def open_challenge(
    stack: Stack, cart: CartRows, card: str = CHALLENGE_CARD, **extra: Any
) -> tuple[str, Any]:
    token = await stack.token_for(cart, card)
    response = await pay(stack, cart, token, **extra)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "requires_more"
    assert body["next_action"]["type"] == "threeds_challenge"
    return token, body["next_action"]


async def test_frictionless_card_is_authenticated_and_charged_in_the_same_request(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("42.50"))
    response = await pay(stack, cart, await stack.token_for(cart, FRICTIONLESS_CARD))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "captured"
    [sale] = await sales(stack)
    assert dec(sale["amount"]) == Decimal("42.50")
    assert sale["threeDS"]["eci"] == "05"
    assert sale["threeDS"]["cavv"]
    assert sale["threeDS"]["dsTransactionId"]
    row = await ledger_row(stack, cart)
    assert row["threeds_stage"] == "authenticated"
    assert row["threeds_transaction_id"]


async def test_challenge_in_a_frame_then_finish_charges_once_and_finishing_twice_answers_the_same(
    stack: Stack,
) -> None:
    cart = await stack.cart(amount=Decimal("80.00"))
    token, action = await open_challenge(stack, cart, MASTERCARD_CHALLENGE)
    assert action["mode"] == "frame"
    assert action["url"].startswith("https://sandbox.test/3ds/challenge?")
    assert await sales(stack) == []
    # Medusa's view while the challenge is open.
    assert await storefront_status(stack, cart) == "requires_more"
    row = await ledger_row(stack, cart)
    assert (row["threeds_stage"], row["status"]) == ("challenge", "requires_more")

    done = await answer_challenge(stack, action, "complete")
    assert '"result": "SUCCESS"' in done.text
    assert "postMessage" in done.text

    first = await finish(stack, cart, token)
    second = await finish(stack, cart, token)

    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["status"] == second.json()["status"] == "captured"
    assert first.json() == second.json()
    [sale] = await sales(stack)
    assert sale["threeDS"]["eci"] == "02"
    assert dec(sale["amount"]) == Decimal("80.00")


async def test_two_finishes_at_once_send_one_sale(stack: Stack) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart)
    await answer_challenge(stack, action, "complete")

    answers = await asyncio.gather(finish(stack, cart, token), finish(stack, cart, token))

    assert len(await sales(stack)) == 1
    codes = sorted(answer.status_code for answer in answers)
    assert codes[0] == 200, [answer.text for answer in answers]
    assert codes[1] in (200, 202, 409)
    assert await storefront_status(stack, cart) == "captured"
    again = await finish(stack, cart, token)
    assert (again.status_code, again.json()["status"]) == (200, "captured")


async def test_finishing_before_the_challenge_is_answered_returns_the_challenge_again(stack: Stack) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart)
    early = await finish(stack, cart, token)
    assert early.status_code == 200, early.text
    assert early.json()["next_action"] == action
    assert await sales(stack) == []
    # NetValve answered 3DS_2011 ("ACS not completed by user") with ACS_REQUIRED: not a decline.
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"], row["threeds_code"]) == (
        "requires_more",
        "challenge",
        "3DS_2011",
    )
    assert await storefront_status(stack, cart) == "requires_more"
    await answer_challenge(stack, action, "complete")
    assert (await finish(stack, cart, token)).json()["status"] == "captured"


async def test_an_unanswered_challenge_fails_on_finish_once_the_window_has_passed(stack: Stack) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart)
    early = await finish(stack, cart, token)
    assert early.json()["next_action"] == action
    # Asking early did not restart NetValve's window: the challenge still ends when it began plus 600 s.
    await stack.conn.execute(
        "UPDATE payments SET threeds_started_at = threeds_started_at - interval '601 seconds'"
        " WHERE cart_id = $1",
        cart.cart_id,
    )
    late = await finish(stack, cart, token)
    assert late.status_code == 402, late.text
    assert late.json()["error"]["code"] == "threeds_failed"
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"], row["threeds_code"]) == ("error", "failed", "abandoned")
    assert await sales(stack) == []


async def test_authentication_after_device_data_sends_what_netvalve_requires(stack: Stack) -> None:
    # Medusa's exact total (19 % VAT): NetValve is sent the rounded amount, on authentication too.
    cart = await stack.cart(amount=Decimal("29.7381"))
    token = await stack.token_for(cart, DEVICE_DATA_FRICTIONLESS_CARD)
    first = await pay(stack, cart, token)
    assert first.json()["next_action"]["type"] == "threeds_device_data", first.text

    paid = await finish(stack, cart, token)

    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    [session] = await threeds_sessions(stack)
    sent = session["authentication"]
    assert sent is not None
    assert {name: sent.get(name) for name in REQUIRED_FOR_AUTHENTICATION} == {
        "amount": Decimal("29.74"),
        "currency": "EUR",
        "customerName": "Ada",
        "customerLastName": "Lovelace",
        "customerCountryCode": "IE",
        "customerEmail": "buyer@example.com",
        "customerPhone": "+353861234567",
    }
    [sale] = await sales(stack)
    assert dec(sale["amount"]) == Decimal("29.74")


async def test_a_cart_without_the_names_netvalve_authenticates_with_is_refused_before_anything_is_sent(
    stack: Stack,
) -> None:
    cart = await stack.cart(billing=False, shipping=False, customer=False)
    response = await pay(stack, cart, await stack.token_for(cart, FRICTIONLESS_CARD))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_payment_request"
    assert await stack.conn.fetchval("SELECT count(*) FROM payments") == 0
    assert await threeds_sessions(stack) == []


@pytest.mark.parametrize(("billing", "holder"), [(True, "Grace Hopper"), (False, None)])
async def test_card_holder_name_is_the_billing_name_and_left_out_without_one(
    stack: Stack, billing: bool, holder: str | None
) -> None:
    cart = await stack.cart(billing=billing)
    if billing:
        # Billed to someone other than the recipient of the parcel (the shipping address stays Ada Lovelace).
        await stack.conn.execute(
            "UPDATE cart_address SET first_name = 'Grace', last_name = 'Hopper' WHERE id = $1",
            cart.billing_address_id,
        )
    paid = await pay(stack, cart, await stack.token_for(cart, FRICTIONLESS_CARD))
    assert paid.status_code == 200, paid.text
    [session] = await threeds_sessions(stack)
    assert session["cardHolderName"] == holder


async def test_paying_again_while_the_challenge_is_open_returns_the_same_challenge(stack: Stack) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart)
    again = await pay(stack, cart, token)
    assert again.status_code == 200
    assert again.json()["next_action"] == action


@pytest.mark.parametrize("card", [CHALLENGE_CARD, CHALLENGE_FAILS_CARD])
async def test_failed_challenge_is_a_threeds_decline_and_the_cart_stays_payable(
    stack: Stack, card: str
) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart, card)
    await answer_challenge(stack, action, "fail" if card == CHALLENGE_CARD else "complete")

    declined = await finish(stack, cart, token)
    again = await finish(stack, cart, token)

    assert declined.status_code == again.status_code == 402, declined.text
    error = declined.json()["error"]
    assert error["code"] == "threeds_failed"
    # The issuer's and provider's words stay in the ledger, not in the storefront's answer.
    assert "3DS_" not in declined.text
    assert again.json()["error"]["code"] == "threeds_failed"
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"], row["threeds_code"]) == ("error", "failed", "3DS_2005")
    assert await sales(stack) == []

    paid = await pay(stack, cart, await stack.token_for(cart, FRICTIONLESS_CARD))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert len(await sales(stack)) == 1


async def test_redirect_challenge_returns_to_the_storefront_then_finishes(stack: Stack) -> None:
    cart = await stack.cart()
    back = f"{SHOP}/?cart_id={cart.cart_id}"
    token, action = await open_challenge(stack, cart, threeds_return_url=back)
    assert action["mode"] == "redirect"

    done = await answer_challenge(stack, action, "complete")
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith(back + "&")
    assert parse_qs(urlsplit(location).query)["result"] == ["SUCCESS"]

    paid = await finish(stack, cart, token)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"


async def test_return_url_outside_the_storefront_origins_is_refused_before_anything_is_sent(
    stack: Stack,
) -> None:
    cart = await stack.cart()
    token = await stack.token_for(cart, CHALLENGE_CARD)
    response = await pay(stack, cart, token, threeds_return_url="https://evil.example/back")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "threeds_return_url_not_allowed"
    assert await stack.conn.fetchval("SELECT count(*) FROM payments") == 0


async def test_device_data_then_challenge_then_sale(stack: Stack) -> None:
    cart = await stack.cart()
    token = await stack.token_for(cart, DEVICE_DATA_CHALLENGE_CARD)
    first = await pay(stack, cart, token)
    assert first.status_code == 200, first.text
    action = first.json()["next_action"]
    assert (action["type"], action["mode"]) == ("threeds_device_data", "frame")
    assert (await ledger_row(stack, cart))["threeds_stage"] == "device_data"

    frame = await stack.nv.get("/3ds/device-data", params={"token": page_token(action["url"])})
    assert "DEVICE_DATA_COLLECTED" in frame.text

    challenged = await finish(stack, cart, token)
    assert challenged.status_code == 200, challenged.text
    challenge = challenged.json()["next_action"]
    assert challenge["type"] == "threeds_challenge"
    await answer_challenge(stack, challenge, "complete")

    paid = await finish(stack, cart, token)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert len(await sales(stack)) == 1


async def test_device_data_then_frictionless_charges_on_finish(stack: Stack) -> None:
    cart = await stack.cart()
    token = await stack.token_for(cart, DEVICE_DATA_FRICTIONLESS_CARD)
    first = await pay(stack, cart, token)
    assert first.json()["next_action"]["type"] == "threeds_device_data"
    paid = await finish(stack, cart, token)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"


@pytest.mark.parametrize(
    ("card", "code"), [(AUTHENTICATION_FAILED_CARD, "3DS_2005"), (PROVIDER_ERROR_CARD, "3DS_2009")]
)
async def test_authentication_failure_or_provider_error_declines_without_a_sale(
    stack: Stack, card: str, code: str
) -> None:
    cart = await stack.cart()
    response = await pay(stack, cart, await stack.token_for(cart, card))
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "threeds_failed"
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"], row["threeds_code"], row["last_response_code"]) == (
        "error",
        "failed",
        code,
        code,
    )
    assert await sales(stack) == []


async def test_payment_without_browser_data_is_refused_without_a_gateway_call(stack: Stack) -> None:
    cart = await stack.cart()
    token = await stack.token_for(cart, FRICTIONLESS_CARD)
    response = await stack.client.post(
        "/api/v1/netvalve/payment",
        json={"cart_id": cart.cart_id, "payment_token": token},
        headers=stack.storefront,
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "browser_data_required"
    assert await stack.sandbox_transactions() == []


async def test_token_never_tokenized_is_refused_as_the_sale_refuses_it(stack: Stack) -> None:
    cart = await stack.cart()
    session = await stack.hpf_session(cart)
    response = await pay(stack, cart, session["hpf"]["payment_token"])
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_payment_token"
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"]) == ("requires_more", None)
    paid = await pay(stack, cart, await stack.token_for(cart, FRICTIONLESS_CARD))
    assert paid.json()["status"] == "captured"


async def test_finish_without_an_authentication_is_refused(stack: Stack) -> None:
    cart = await stack.cart()
    response = await finish(stack, cart, "no-such-token")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "threeds_not_started"


async def test_finish_with_another_token_is_refused(stack: Stack) -> None:
    cart = await stack.cart()
    await open_challenge(stack, cart)
    response = await finish(stack, cart, await stack.token_for(cart, CHALLENGE_CARD))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "threeds_token_mismatch"


async def test_abandoned_challenge_fails_the_payment_and_the_cart_is_payable_again(stack: Stack) -> None:
    cart = await stack.cart()
    token, _ = await open_challenge(stack, cart)
    # The shopper walked away: the challenge began longer ago than NetValve's window.
    await stack.conn.execute(
        "UPDATE payments SET threeds_started_at = now() - interval '601 seconds' WHERE cart_id = $1",
        cart.cart_id,
    )

    reconciled = await stack.client.post("/api/v1/netvalve/reconcile", json={}, headers=stack.service)
    assert reconciled.status_code == 200, reconciled.text
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"], row["threeds_code"]) == ("error", "failed", "abandoned")
    late = await finish(stack, cart, token)
    assert late.status_code == 402
    assert late.json()["error"]["code"] == "threeds_failed"

    paid = await pay(stack, cart, await stack.token_for(cart, FRICTIONLESS_CARD))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert len(await sales(stack)) == 1


async def test_abandoned_challenge_is_replaced_by_the_next_payment_request(stack: Stack) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart)
    await stack.conn.execute(
        "UPDATE payments SET threeds_started_at = now() - interval '601 seconds' WHERE cart_id = $1",
        cart.cart_id,
    )
    again = await pay(stack, cart, token)
    assert again.status_code == 200, again.text
    assert again.json()["next_action"]["url"] != action["url"]
    assert (await ledger_row(stack, cart))["threeds_stage"] == "challenge"


async def test_initialization_timeout_charges_nothing_and_the_payment_can_start_again(stack: Stack) -> None:
    cart = await stack.cart()
    token = await stack.token_for(cart, FRICTIONLESS_CARD)
    await stack.knobs(fault="timeout", fault_paths=["/3ds/v2/initialization"])
    timed_out = await pay(stack, cart, token)
    assert timed_out.status_code == 503, timed_out.text
    assert timed_out.json()["error"]["code"] == "gateway_unavailable"
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"]) == ("requires_more", None)
    assert await sales(stack) == []

    await stack.knobs()
    paid = await pay(stack, cart, token)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"


@pytest.mark.parametrize("path", ["/3ds/result", "/3ds/authentication"])
async def test_timeout_while_finishing_keeps_the_stage_and_a_retry_charges_once(
    stack: Stack, path: str
) -> None:
    cart = await stack.cart()
    card = CHALLENGE_CARD if path == "/3ds/result" else DEVICE_DATA_FRICTIONLESS_CARD
    token = await stack.token_for(cart, card)
    action = (await pay(stack, cart, token)).json()["next_action"]
    if action["type"] == "threeds_challenge":
        await answer_challenge(stack, action, "complete")
    stage = (await ledger_row(stack, cart))["threeds_stage"]

    await stack.knobs(fault="timeout", fault_paths=[path])
    timed_out = await finish(stack, cart, token)
    assert timed_out.status_code == 503, timed_out.text
    assert (await ledger_row(stack, cart))["threeds_stage"] == stage
    assert await sales(stack) == []

    await stack.knobs()
    paid = await finish(stack, cart, token)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert len(await sales(stack)) == 1


async def test_sale_answer_lost_after_the_challenge_is_never_sent_twice(stack: Stack) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart)
    await answer_challenge(stack, action, "complete")
    await stack.knobs(fault="timeout", fault_paths=["/sale"], fault_after_commit=True)

    lost = await finish(stack, cart, token)
    assert lost.status_code == 202, lost.text
    assert lost.json()["status"] == "unknown"
    await stack.knobs()
    again = await finish(stack, cart, token)
    assert again.status_code == 202
    assert len(await sales(stack)) == 1

    reconciled = await stack.client.post("/api/v1/netvalve/reconcile", json={}, headers=stack.service)
    assert reconciled.status_code == 200
    assert await storefront_status(stack, cart) == "captured"
    settled = await finish(stack, cart, token)
    assert settled.status_code == 200
    assert settled.json()["status"] == "captured"
    assert len(await sales(stack)) == 1


async def test_cart_amount_changed_during_the_challenge_fails_the_authentication(stack: Stack) -> None:
    cart = await stack.cart(amount=Decimal("30.00"))
    token, _ = await open_challenge(stack, cart)
    # The shopper added an item in another tab: Medusa's session now holds another amount.
    await stack.conn.execute(
        "UPDATE payment_session SET amount = 35, raw_amount = $2::jsonb WHERE id = $1",
        cart.payment_session_id,
        '{"value": "35", "precision": 20}',
    )
    response = await finish(stack, cart, token)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "payment_amount_mismatch"
    assert (await ledger_row(stack, cart))["threeds_code"] == "amount_changed"
    assert await sales(stack) == []


async def test_authorize_mode_sends_the_authentication_with_the_authorization(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    settings = {"netvalve_threeds": "on", "store_cors": SHOP, "netvalve_capture_mode": "authorize"}
    async for authorizing in open_stack(db, nv_http, medusa_conn, **settings):
        cart = await authorizing.cart()
        token, action = await open_challenge(authorizing, cart)
        await answer_challenge(authorizing, action, "complete")
        response = await finish(authorizing, cart, token)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "authorized"
        [authorization] = await authorizing.sandbox_transactions()
        assert authorization["type"] == "AUTHORIZATION"
        assert authorization["threeDS"]["eci"] == "05"


async def test_off_sends_no_threeds_and_ignores_browser_data(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for off in open_stack(db, nv_http, medusa_conn):
        cart = await off.cart()
        response = await pay(off, cart, await off.token_for(cart, CHALLENGE_CARD))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "captured"
        assert "next_action" not in response.json()
        [sale] = await sales(off)
        assert sale["threeDS"] is None


@pytest.mark.parametrize("session_gone", [False, True], ids=["session_kept", "session_deleted"])
async def test_finish_after_the_cart_was_completed_fails_the_authentication_and_sends_nothing(
    stack: Stack, session_gone: bool
) -> None:
    cart = await stack.cart(amount=Decimal("55.00"))
    token, action = await open_challenge(stack, cart)
    # Medusa completes the cart (another tab, another provider) while the challenge is open.
    if session_gone:
        await stack.conn.execute(
            "UPDATE payment_session SET deleted_at = now() WHERE id = $1", cart.payment_session_id
        )
    await complete_cart(stack.conn, cart.cart_id)
    await answer_challenge(stack, action, "complete")

    late = await finish(stack, cart, token)

    assert late.status_code == 409, late.text
    assert late.json()["error"]["code"] == "cart_completed"
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"], row["threeds_code"]) == ("error", "failed", "cart_completed")
    assert await stack.sandbox_transactions() == []
    again = await finish(stack, cart, token)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "cart_completed")
    assert await stack.sandbox_transactions() == []


async def test_finish_for_a_payment_session_medusa_deleted_sends_nothing(stack: Stack) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart)
    # The cart's total changed: Medusa deleted the session the authentication was made for.
    await stack.conn.execute(
        "UPDATE payment_session SET deleted_at = now() WHERE id = $1", cart.payment_session_id
    )
    await answer_challenge(stack, action, "complete")

    late = await finish(stack, cart, token)

    assert late.status_code == 404, late.text
    assert late.json()["error"]["code"] == "payment_session_not_found"
    row = await ledger_row(stack, cart)
    assert (row["status"], row["threeds_stage"], row["threeds_code"]) == ("error", "failed", "session_gone")
    assert await stack.sandbox_transactions() == []


async def test_a_repeated_finish_after_the_cart_became_an_order_answers_like_the_first(stack: Stack) -> None:
    cart = await stack.cart()
    token, action = await open_challenge(stack, cart)
    await answer_challenge(stack, action, "complete")
    assert (await finish(stack, cart, token)).json()["status"] == "captured"
    await complete_cart(stack.conn, cart.cart_id)

    again = await finish(stack, cart, token)

    assert (again.status_code, again.json()["status"]) == (200, "captured")
    assert len(await sales(stack)) == 1


async def test_starting_3ds_for_a_completed_cart_is_refused_before_netvalve_hears_of_it(stack: Stack) -> None:
    cart = await stack.cart()
    token = await stack.token_for(cart, CHALLENGE_CARD)
    await complete_cart(stack.conn, cart.cart_id)
    response = await pay(stack, cart, token)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "cart_completed"
    assert await stack.conn.fetchval("SELECT count(*) FROM payments") == 0
