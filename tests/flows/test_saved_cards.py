"""Saved cards (issue 24): account holders, saving a card with the shopper's consent, paying with it, and the
merchant charging it; every refusal answered before NetValve hears anything."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cryptography.fernet import Fernet

from devtools.medusa_rows import (
    WEBSHOP_SALES_CHANNEL,
    create_customer,
    create_order,
    create_order_collection,
)
from tests.support.saved_cards import VAULT, VAULT_KEY, gateway_token, issuing, pay, signed_in
from tests.support.stack import OpenScripted, Stack

HOLDERS = "/api/v1/netvalve/account-holders"


async def _saved(stack: Stack, transport: Any) -> tuple[str, str, str]:
    """A signed-in customer pays a first cart saving the card: (customer id, card id, gateway token)."""
    token = await gateway_token(stack)
    cart = await stack.cart()
    customer_id = await signed_in(stack, cart)
    transport.once("/sale", issuing(token))
    paid = await pay(stack, cart, payment_token=await stack.token_for(cart), save_card=True)
    assert paid.status_code == 200, paid.text
    card_id = paid.json()["saved_card_id"]
    assert card_id.startswith("nvcard_")
    return customer_id, card_id, token


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
    stack, transport = await scripted(**VAULT)
    customer_id, card_id, token = await _saved(stack, transport)

    row = await stack.conn.fetchrow("SELECT * FROM saved_cards WHERE id = $1", card_id)
    assert row is not None
    assert token.encode() not in row["token_encrypted"]
    assert Fernet(VAULT_KEY.encode()).decrypt(row["token_encrypted"]).decode() == token
    assert row["customer_id"] == customer_id
    assert row["initial_transaction_id"] is not None
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
    stack, transport = await scripted(**VAULT)
    customer_id, card_id, token = await _saved(stack, transport)
    second = await stack.cart(email="member@example.com")
    await stack.conn.execute("UPDATE cart SET customer_id = $1 WHERE id = $2", customer_id, second.cart_id)

    paid = await pay(stack, second, saved_card_id=card_id)

    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert token not in paid.text
    sale = (await stack.sandbox_transactions())[-1]
    # The sandbox found the card behind the saved gateway token: only that token was sent.
    assert sale["clientOrderId"].startswith(second.payment_session_id or "-")
    assert sale["responseCode"] == "GTW_1000"


async def test_a_saved_card_pays_only_its_own_customers_carts(scripted: OpenScripted) -> None:
    stack, transport = await scripted(**VAULT)
    _, card_id, _ = await _saved(stack, transport)
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
    stack, transport = await scripted(**VAULT)
    customer_id, card_id, _ = await _saved(stack, transport)
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


async def test_the_merchant_charges_a_saved_card_for_the_customers_order(scripted: OpenScripted) -> None:
    stack, transport = await scripted(**VAULT)
    customer_id, card_id, _ = await _saved(stack, transport)
    order = await create_order(stack.conn)
    await stack.conn.execute('UPDATE "order" SET customer_id = $1 WHERE id = $2', customer_id, order.order_id)
    collection = await create_order_collection(stack.conn, order.order_id, amount=Decimal("7.5"))
    strangers = await create_order(stack.conn, email="stranger@example.com")
    foreign = await create_order_collection(stack.conn, strangers.order_id)
    path = f"/api/v1/netvalve/saved-cards/{card_id}/charges"
    body = {"payment_collection_id": collection.payment_collection_id}
    keyed = {**stack.service, "Idempotency-Key": "mit-1"}
    before = len(await stack.sandbox_transactions())

    no_key = await stack.client.post(path, json=body, headers=stack.service)
    not_theirs = await stack.client.post(
        path,
        json={"payment_collection_id": foreign.payment_collection_id},
        headers={**stack.service, "Idempotency-Key": "mit-foreign"},
    )
    await stack.conn.execute("UPDATE saved_cards SET initial_transaction_id = NULL WHERE id = $1", card_id)
    no_consent = await stack.client.post(path, json=body, headers={**stack.service, "Idempotency-Key": "x"})
    assert len(await stack.sandbox_transactions()) == before
    await stack.conn.execute("UPDATE saved_cards SET initial_transaction_id = 1 WHERE id = $1", card_id)
    charged = await stack.client.post(path, json=body, headers=keyed)
    replayed = await stack.client.post(path, json=body, headers=keyed)

    assert no_key.status_code == 428
    assert no_key.json()["error"]["code"] == "idempotency_key_required"
    assert not_theirs.status_code == 404
    assert not_theirs.json()["error"]["code"] == "saved_card_not_found"
    assert no_consent.status_code == 409
    assert no_consent.json()["error"]["code"] == "saved_card_no_consent"
    assert charged.status_code == 200, charged.text
    assert charged.json()["status"] == "captured"
    assert charged.json()["amount"] == "7.50"
    assert replayed.json() == charged.json()
    [sale] = (await stack.sandbox_transactions())[before:]
    assert sale["amount"] == "7.50"
