"""Saved cards (issue 24): account holders, saving a card with the shopper's consent, paying with it, and the
merchant charging it; every refusal of ours answered before NetValve hears anything; with 3-D Secure on, a
saved card is authenticated like a typed one."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from prometheus_client import REGISTRY
from sqlalchemy import select

from app.models import WebhookOutbox
from devtools.medusa_rows import (
    WEBSHOP_SALES_CHANNEL,
    CartRows,
    CollectionRows,
    create_customer,
    create_order,
    create_order_collection,
)
from tests.support.saved_cards import (
    CUSTOMER_CIT,
    INITIAL_CIT,
    MERCHANT_MIT,
    VAULT,
    VAULT_KEY,
    issued_token,
    pay,
    sale_of_cart,
    sandbox_tokens,
    signed_in,
)
from tests.support.stack import OpenScripted, Stack
from tests.support.threeds import BROWSER, CHALLENGE_CARD, SHOP, answer_challenge

HOLDERS = "/api/v1/netvalve/account-holders"
MEDUSA_HOOK = "http://medusa.test/hooks/payment/netvalve_netvalve"


async def _saved(stack: Stack) -> tuple[str, str, str]:
    """A signed-in customer pays a first cart saving the card: (customer id, card id, gateway token)."""
    cart = await stack.cart()
    customer_id = await signed_in(stack, cart)
    paid = await pay(stack, cart, payment_token=await stack.token_for(cart), save_card=True)
    assert paid.status_code == 200, paid.text
    card_id = paid.json()["saved_card_id"]
    assert card_id.startswith("nvcard_")
    return customer_id, card_id, await issued_token(stack, cart)


async def test_account_holders_belong_to_registered_customers(scripted: OpenScripted) -> None:
    stack, _ = await scripted(**VAULT)
    member = await create_customer(stack.conn, email="holder@example.com", has_account=True)
    guest = await create_customer(stack.conn, email="guest-holder@example.com")

    created = await stack.client.post(HOLDERS, json={"customer_id": member}, headers=stack.service)
    again = await stack.client.post(HOLDERS, json={"customer_id": member}, headers=stack.service)
    refused = await stack.client.post(HOLDERS, json={"customer_id": guest}, headers=stack.service)
    anonymous = await stack.client.post(HOLDERS, json={"customer_id": member}, headers=stack.storefront)

    assert created.status_code == 200, created.text
    holder = created.json()
    assert holder["id"].startswith("nvah_")
    assert holder["email"] == "holder@example.com"
    assert again.json()["id"] == holder["id"]
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "customer_not_registered"
    assert anonymous.status_code in (401, 403)
    path = f"{HOLDERS}/{holder['id']}"
    patched = await stack.client.patch(path, json={"email": "new@example.com"}, headers=stack.service)
    assert patched.json()["email"] == "new@example.com"
    assert (await stack.client.get(path, headers=stack.service)).json()["email"] == "new@example.com"
    assert (await stack.client.get(path + "/cards", headers=stack.service)).json() == {"cards": []}
    deleted = await stack.client.delete(path, headers=stack.service)
    assert deleted.json() == {"id": holder["id"], "deleted": True, "cards_deleted": 0}
    gone = await stack.client.get(path, headers=stack.service)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "account_holder_not_found"


async def test_saving_needs_a_signed_in_customer_and_sends_nothing_otherwise(scripted: OpenScripted) -> None:
    stack, _ = await scripted(**VAULT)
    guest_cart = await stack.cart()
    token = await stack.token_for(guest_cart)
    before = len(await stack.sandbox_transactions())

    refused = await pay(stack, guest_cart, payment_token=token, save_card=True)

    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "save_card_requires_account"
    assert len(await stack.sandbox_transactions()) == before


async def test_saved_cards_off_refuse_saving(scripted: OpenScripted) -> None:
    stack, _ = await scripted()
    cart = await stack.cart()
    await signed_in(stack, cart)
    refused = await pay(stack, cart, payment_token=await stack.token_for(cart), save_card=True)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "saved_cards_disabled"


async def test_an_approved_card_is_saved_encrypted_and_listed_masked(scripted: OpenScripted) -> None:
    stack, _ = await scripted(**VAULT)
    customer_id, card_id, token = await _saved(stack)

    row = await stack.conn.fetchrow("SELECT * FROM saved_cards WHERE id = $1", card_id)
    assert row is not None
    assert token.encode() not in row["token_encrypted"]
    assert Fernet(VAULT_KEY.encode()).decrypt(row["token_encrypted"]).decode() == token
    assert row["customer_id"] == customer_id
    # The sale that saved the card was sent as the initial customer-initiated one, and is the one the vault
    # keeps for the merchant's charges.
    [first] = [t for t in await stack.sandbox_transactions() if t["type"] == "SALE"]
    assert first["additionalData"] == INITIAL_CIT
    assert first["paymentType"] == "CARD"
    assert row["initial_transaction_id"] == first["transactionID"]
    [issued] = await sandbox_tokens(stack)
    assert issued["citTransactionIDs"] == [first["transactionID"]]
    holder = await stack.client.post(HOLDERS, json={"customer_id": customer_id}, headers=stack.service)
    listed = await stack.client.get(f"{HOLDERS}/{holder.json()['id']}/cards", headers=stack.service)
    assert token not in listed.text
    [card] = listed.json()["cards"]
    assert card["id"] == card_id
    assert card["masked"] == "401200******5439"
    assert card["last4"] == "5439"
    assert (card["expiry_month"], card["expiry_year"], card["expired"]) == (12, 2030, False)
    deleted = await stack.client.delete(f"{HOLDERS}/{holder.json()['id']}", headers=stack.service)
    assert deleted.json()["cards_deleted"] == 1
    assert await stack.conn.fetchval("SELECT count(*) FROM saved_cards WHERE id = $1", card_id) == 0


async def test_the_customer_pays_a_second_cart_with_the_saved_card(scripted: OpenScripted) -> None:
    stack, _ = await scripted(**VAULT)
    customer_id, card_id, token = await _saved(stack)
    second = await stack.cart(email="member@example.com")
    await stack.conn.execute("UPDATE cart SET customer_id = $1 WHERE id = $2", customer_id, second.cart_id)

    paid = await pay(stack, second, saved_card_id=card_id)

    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert token not in paid.text
    sale = await sale_of_cart(stack, second)
    # The sandbox found the card behind the saved gateway token: only that token was sent, as a CIT.
    assert sale["responseCode"] == "GTW_1000"
    assert sale["paymentType"] == "TOKEN"
    assert sale["additionalData"] == CUSTOMER_CIT
    [issued] = [t for t in await sandbox_tokens(stack) if t["paymentToken"] == token]
    assert sale["transactionID"] in issued["citTransactionIDs"]
    row = await stack.conn.fetchrow("SELECT saved_card_id FROM payments WHERE cart_id = $1", second.cart_id)
    assert row is not None
    assert row["saved_card_id"] == card_id


async def test_a_saved_card_pays_only_its_own_customers_carts(scripted: OpenScripted) -> None:
    stack, _ = await scripted(**VAULT)
    _, card_id, _ = await _saved(stack)
    other = await stack.cart()
    await signed_in(stack, other, email="someone-else@example.com")
    guest = await stack.cart()
    before = len(await stack.sandbox_transactions())

    other_customers = await pay(stack, other, saved_card_id=card_id)
    guests = await pay(stack, guest, saved_card_id=card_id)
    unknown = await pay(stack, other, saved_card_id="nvcard_unknown")

    assert other_customers.status_code == 404
    assert other_customers.json()["error"]["code"] == "saved_card_not_found"
    assert unknown.json()["error"]["code"] == "saved_card_not_found"
    assert guests.status_code == 422
    assert guests.json()["error"]["code"] == "save_card_requires_account"
    assert len(await stack.sandbox_transactions()) == before


async def test_a_card_of_another_channel_expired_or_deleted_pays_nothing(scripted: OpenScripted) -> None:
    stack, _ = await scripted(**VAULT)
    customer_id, card_id, _ = await _saved(stack)
    cart = await stack.cart(email="member@example.com")
    await stack.conn.execute("UPDATE cart SET customer_id = $1 WHERE id = $2", customer_id, cart.cart_id)
    before = len(await stack.sandbox_transactions())

    await stack.conn.execute("UPDATE saved_cards SET sales_channel_id = 'sc_other' WHERE id = $1", card_id)
    other_channel = await pay(stack, cart, saved_card_id=card_id)
    await stack.conn.execute(
        "UPDATE saved_cards SET sales_channel_id = $2, expiry_year = 2020 WHERE id = $1",
        card_id,
        WEBSHOP_SALES_CHANNEL,
    )
    expired = await pay(stack, cart, saved_card_id=card_id)
    await stack.conn.execute("UPDATE saved_cards SET expiry_year = 2030 WHERE id = $1", card_id)
    deleted = await stack.client.delete(f"/api/v1/netvalve/saved-cards/{card_id}", headers=stack.service)
    after_delete = await pay(stack, cart, saved_card_id=card_id)

    assert other_channel.status_code == 404
    assert other_channel.json()["error"]["code"] == "saved_card_not_found"
    assert expired.status_code == 422
    assert expired.json()["error"]["code"] == "saved_card_expired"
    assert deleted.json() == {"id": card_id, "deleted": True}
    assert after_delete.status_code == 404
    assert await stack.conn.fetchval("SELECT token_encrypted FROM saved_cards WHERE id = $1", card_id) is None
    assert len(await stack.sandbox_transactions()) == before


async def _customers_order(
    stack: Stack, customer_id: str, amount: Decimal = Decimal("7.5")
) -> CollectionRows:
    order = await create_order(stack.conn)
    await stack.conn.execute('UPDATE "order" SET customer_id = $1 WHERE id = $2', customer_id, order.order_id)
    return await create_order_collection(stack.conn, order.order_id, amount=amount)


def _charge(stack: Stack, card_id: str, collection: CollectionRows, key: str | None) -> Any:
    return stack.client.post(
        f"/api/v1/netvalve/saved-cards/{card_id}/charges",
        json={"payment_collection_id": collection.payment_collection_id},
        headers={**stack.service, **({"Idempotency-Key": key} if key else {})},
    )


async def test_the_merchant_charges_a_saved_card_for_the_customers_order(scripted: OpenScripted) -> None:
    stack, _ = await scripted(**VAULT)
    customer_id, card_id, token = await _saved(stack)
    initial = await stack.conn.fetchval(
        "SELECT initial_transaction_id FROM saved_cards WHERE id = $1", card_id
    )
    collection = await _customers_order(stack, customer_id)
    strangers = await create_order(stack.conn, email="stranger@example.com")
    foreign = await create_order_collection(stack.conn, strangers.order_id)
    before = len(await stack.sandbox_transactions())

    no_key = await _charge(stack, card_id, collection, None)
    not_theirs = await _charge(stack, card_id, foreign, "mit-foreign")
    await stack.conn.execute("UPDATE saved_cards SET initial_transaction_id = NULL WHERE id = $1", card_id)
    no_consent = await _charge(stack, card_id, collection, "x")
    assert len(await stack.sandbox_transactions()) == before
    await stack.conn.execute(
        "UPDATE saved_cards SET initial_transaction_id = $2 WHERE id = $1", card_id, initial
    )
    charged = await _charge(stack, card_id, collection, "mit-1")
    replayed = await _charge(stack, card_id, collection, "mit-1")

    assert no_key.status_code == 428
    assert no_key.json()["error"]["code"] == "idempotency_key_required"
    assert not_theirs.status_code == 404
    assert not_theirs.json()["error"]["code"] == "saved_card_not_found"
    assert no_consent.status_code == 409
    assert no_consent.json()["error"]["code"] == "saved_card_no_consent"
    assert charged.status_code == 200, charged.text
    assert charged.json()["status"] == "captured"
    assert charged.json()["amount"] == "7.50"
    assert token not in charged.text
    assert replayed.json() == charged.json()
    [sale] = (await stack.sandbox_transactions())[before:]
    assert sale["amount"] == "7.50"
    assert sale["paymentType"] == "TOKEN"
    assert sale["additionalData"] == {**MERCHANT_MIT, "initialTransactionId": initial}


async def test_netvalve_refusing_a_merchant_charge_without_its_initial_sale_is_a_clear_recorded_refusal(
    scripted: OpenScripted,
) -> None:
    stack, _ = await scripted(**VAULT)
    customer_id, card_id, _ = await _saved(stack)
    # Another approved sale, not a customer-initiated one of this card: NetValve knows no consent behind it.
    other = await stack.cart()
    assert (await stack.pay(other, await stack.token_for(other))).status_code == 200
    unrelated = (await sale_of_cart(stack, other))["transactionID"]
    await stack.conn.execute(
        "UPDATE saved_cards SET initial_transaction_id = $2 WHERE id = $1", card_id, unrelated
    )
    collection = await _customers_order(stack, customer_id)
    refusals = (
        REGISTRY.get_sample_value("netvalve_saved_card_refusals_total", {"code": "saved_card_no_consent"})
        or 0.0
    )

    refused = await _charge(stack, card_id, collection, "mit-2081")

    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "saved_card_no_consent"
    assert refused.json()["error"]["details"] == {"response_code": "GTW_2081"}
    row = await stack.conn.fetchrow(
        "SELECT status, last_response_code, saved_card_id FROM payments WHERE payment_collection_id = $1",
        collection.payment_collection_id,
    )
    assert row is not None
    assert (row["status"], row["last_response_code"], row["saved_card_id"]) == ("error", "GTW_2081", card_id)
    assert (
        REGISTRY.get_sample_value("netvalve_saved_card_refusals_total", {"code": "saved_card_no_consent"})
        == refusals + 1
    )


async def test_medusa_hears_of_a_merchant_charge_through_the_outbox(scripted: OpenScripted) -> None:
    stack, _ = await scripted(**VAULT, medusa_webhook_url=MEDUSA_HOOK)
    customer_id, card_id, _ = await _saved(stack)
    collection = await _customers_order(stack, customer_id, Decimal("12.34"))
    outboxed = len(await _outbox(stack))

    charged = await _charge(stack, card_id, collection, "mit-outbox")

    assert charged.status_code == 200, charged.text
    assert (await _outbox(stack))[outboxed:] == [("captured", collection.payment_session_id, "12.34")]


async def _outbox(stack: Stack) -> list[tuple[str, str, str]]:
    async with stack.app.state.sessionmaker() as session:
        rows = (await session.execute(select(WebhookOutbox).order_by(WebhookOutbox.id))).scalars().all()
    return [(r.action, r.payload["data"]["session_id"], r.payload["data"]["amount"]) for r in rows]


async def _finish(stack: Stack, cart: CartRows, **card: str) -> httpx.Response:
    return await stack.client.post(
        "/api/v1/netvalve/threeds/finish", json={"cart_id": cart.cart_id, **card}, headers=stack.storefront
    )


async def test_with_3ds_on_a_card_is_saved_after_its_challenge_and_a_saved_card_is_challenged_too(
    scripted: OpenScripted,
) -> None:
    stack, _ = await scripted(**VAULT, netvalve_threeds="on", store_cors=SHOP)
    first = await stack.cart()
    customer_id = await signed_in(stack, first)
    token = await stack.token_for(first, CHALLENGE_CARD)
    started = await pay(stack, first, payment_token=token, save_card=True, browser=BROWSER)
    assert started.json()["next_action"]["type"] == "threeds_challenge", started.text
    await answer_challenge(stack, started.json()["next_action"], "complete")
    saved = await _finish(stack, first, payment_token=token)
    assert saved.status_code == 200, saved.text
    card_id = saved.json()["saved_card_id"]
    assert card_id is not None
    initial = await sale_of_cart(stack, first)
    assert initial["additionalData"] == INITIAL_CIT
    assert initial["threeDS"]["eci"]

    second = await stack.cart(email="member@example.com")
    await stack.conn.execute("UPDATE cart SET customer_id = $1 WHERE id = $2", customer_id, second.cart_id)
    without_browser = await pay(stack, second, saved_card_id=card_id)
    challenged = await pay(stack, second, saved_card_id=card_id, browser=BROWSER)
    assert challenged.status_code == 200, challenged.text
    assert challenged.json()["next_action"]["type"] == "threeds_challenge"
    assert await stack.conn.fetchval("SELECT count(*) FROM payments WHERE cart_id = $1", second.cart_id) == 1
    await answer_challenge(stack, challenged.json()["next_action"], "complete")
    with_the_hosted_token = await _finish(stack, second, payment_token=token)
    paid = await _finish(stack, second, saved_card_id=card_id)

    assert without_browser.status_code == 422
    assert without_browser.json()["error"]["code"] == "browser_data_required"
    assert with_the_hosted_token.status_code == 409
    assert with_the_hosted_token.json()["error"]["code"] == "threeds_token_mismatch"
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    sale = await sale_of_cart(stack, second)
    assert (sale["paymentType"], sale["additionalData"]) == ("TOKEN", CUSTOMER_CIT)
    assert sale["threeDS"]["eci"]
    # One authentication per payment: the saved card's was its own, not skipped.
    authentications = (await stack.nv.get("/_sandbox/threeds")).json()
    assert [a["status"] for a in authentications] == [a["status"] for a in authentications[:1]] * 2


SAVED = "netvalve_saved_cards_total"


def _create_token_calls() -> float:
    """The service's ``/createToken`` calls, whatever their outcome."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "netvalve_gateway_requests"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("operation") == "create_token"
    )


async def test_without_a_token_on_the_sale_the_card_is_saved_through_create_token(
    scripted: OpenScripted,
) -> None:
    stack, _ = await scripted(**VAULT)
    await stack.knobs(sales_without_tokens=True)
    cart = await stack.cart()
    customer_id = await signed_in(stack, cart)

    paid = await pay(stack, cart, payment_token=await stack.token_for(cart), save_card=True)

    assert paid.status_code == 200, paid.text
    card_id = paid.json().get("saved_card_id")
    assert card_id is not None, "the paid card was not saved"
    sale = await sale_of_cart(stack, cart)
    assert (sale["additionalData"], sale["paymentType"]) == (INITIAL_CIT, "CARD")
    [issued] = await sandbox_tokens(stack)
    assert (issued["issuedBy"], issued["transactionID"]) == ("CREATE_TOKEN", None)
    assert issued["citTransactionIDs"] == [sale["transactionID"]]
    row = await stack.conn.fetchrow("SELECT * FROM saved_cards WHERE id = $1", card_id)
    assert row is not None
    assert Fernet(VAULT_KEY.encode()).decrypt(row["token_encrypted"]).decode() == issued["paymentToken"]
    assert (row["masked"], row["brand"], row["expiry_month"], row["expiry_year"]) == (
        "401200******5439",
        "VISA",
        12,
        2030,
    )
    assert row["initial_transaction_id"] == sale["transactionID"]

    second = await stack.cart(email="member@example.com")
    await stack.conn.execute("UPDATE cart SET customer_id = $1 WHERE id = $2", customer_id, second.cart_id)
    again = await pay(stack, second, saved_card_id=card_id)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "captured"
    token_sale = await sale_of_cart(stack, second)
    assert (token_sale["paymentType"], token_sale["additionalData"]) == ("TOKEN", CUSTOMER_CIT)

    charged = await _charge(stack, card_id, await _customers_order(stack, customer_id), "mit-created")
    assert charged.status_code == 200, charged.text
    assert charged.json()["status"] == "captured"
    mit = (await stack.sandbox_transactions())[-1]
    assert (mit["responseCode"], mit["additionalData"]) == (
        "GTW_1000",
        {**MERCHANT_MIT, "initialTransactionId": sale["transactionID"]},
    )


async def test_a_failing_create_token_leaves_the_payment_paid_and_saves_nothing(
    scripted: OpenScripted, caplog: pytest.LogCaptureFixture
) -> None:
    stack, _ = await scripted(**VAULT)
    await stack.knobs(sales_without_tokens=True, fault="error=500", fault_paths=["/createToken"])
    cart = await stack.cart()
    await signed_in(stack, cart)
    failed = REGISTRY.get_sample_value(SAVED, {"outcome": "failed"}) or 0.0
    calls = _create_token_calls()
    hpf_token = await stack.token_for(cart)

    # The app's logging setup replaced the root logger's handlers, caplog's among them.
    logging.getLogger().addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            paid = await pay(stack, cart, payment_token=hpf_token, save_card=True)
    finally:
        logging.getLogger().removeHandler(caplog.handler)

    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert "saved_card_id" not in paid.json()
    assert await stack.conn.fetchval("SELECT count(*) FROM saved_cards") == 0
    assert await sandbox_tokens(stack) == []
    assert _create_token_calls() == calls + 1, "no /createToken was tried"
    assert REGISTRY.get_sample_value(SAVED, {"outcome": "failed"}) == failed + 1
    assert "the paid card could not be saved" in caplog.text
    assert not [record for record in caplog.records if hpf_token in repr(record.__dict__)]
    status = await stack.conn.fetchval("SELECT status FROM payments WHERE cart_id = $1", cart.cart_id)
    assert status == "captured"
