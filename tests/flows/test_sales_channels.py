"""A publishable key reaches only carts of its own sales channels, as in Medusa's store API."""

from __future__ import annotations

from devtools.medusa_rows import create_publishable_key
from tests.support.stack import Stack

HPF = "/api/v1/netvalve/hpf/session"


async def test_a_key_of_another_sales_channel_is_refused_as_if_the_cart_did_not_exist(stack: Stack) -> None:
    cart = await stack.cart(sales_channel_id="sc_eu")
    other = {"x-publishable-api-key": await create_publishable_key(stack.conn, sales_channel_ids=("sc_us",))}
    own = {"x-publishable-api-key": await create_publishable_key(stack.conn, sales_channel_ids=("sc_eu",))}

    refused = await stack.client.post(HPF, json={"cart_id": cart.cart_id}, headers=other)
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "cart_not_found"
    assert (await stack.client.get(HPF, params={"cart_id": cart.cart_id}, headers=other)).status_code == 404
    paid = await stack.pay(cart, "tok-any", **other)
    assert paid.status_code == 404
    assert not [t for t in await stack.sandbox_transactions() if t["type"] == "SALE"]

    accepted = await stack.client.post(HPF, json={"cart_id": cart.cart_id}, headers=own)
    assert accepted.status_code == 200, accepted.text


async def test_a_cart_without_a_sales_channel_belongs_to_no_key(stack: Stack) -> None:
    cart = await stack.cart(sales_channel_id=None)
    response = await stack.client.post(HPF, json={"cart_id": cart.cart_id}, headers=stack.storefront)
    assert response.status_code == 404
