from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.sandbox import Harness

URLS = {
    "successUrl": "https://shop.test/success",
    "cancelUrl": "https://shop.test/cancel",
    "failedUrl": "https://shop.test/failed",
    "pendingUrl": "https://shop.test/pending",
}


async def _order(harness: Harness, **extra: Any) -> dict[str, Any]:
    body = {"amount": Decimal("42.00"), "currency": "USD", "clientOrderId": "hpp-1", **URLS} | extra
    response = await harness.post("/hpp/order", body)
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def _token(order: dict[str, Any]) -> str:
    token: str = parse_qs(urlsplit(order["redirectUrl"]).query)["paymentToken"][0]
    return token


async def _complete(harness: Harness, order: dict[str, Any], **form: str) -> Any:
    fields = {
        "paymentToken": _token(order),
        "cardNumber": "4012000098765439",
        "expiryMonth": "12",
        "expiryYear": "2030",
        "cvv": "999",
        "action": "pay",
    } | form
    return await harness.client.post("/checkout/complete", data=fields)


async def test_hpp_order_returns_a_checkout_redirect(sandbox: Harness) -> None:
    order = await _order(sandbox)

    assert (order["responseCode"], order["orderState"]) == ("GTW_1000", "CREATED")
    assert isinstance(order["orderId"], int)
    url = urlsplit(order["redirectUrl"])
    assert (url.scheme, url.netloc, url.path) == ("http", "127.0.0.1:8081", "/checkout")
    assert parse_qs(url.query)["language"] == ["en"]
    page = await sandbox.client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200
    assert 'action="/checkout/complete"' in page.text
    assert "42.00 USD" in page.text
    for name in ("cardNumber", "expiryMonth", "expiryYear", "cvv", "cardHolderName"):
        assert f'name="{name}"' in page.text
    assert 'value="4012000098765439"' not in page.text
    assert (await sandbox.get("/order", clientOrderId="hpp-1")).json()["orderState"] == "CREATED"


async def test_paying_redirects_to_success_and_fires_the_webhook(sandbox: Harness) -> None:
    order = await _order(sandbox)

    response = await _complete(sandbox, order)

    assert response.status_code == 303
    assert response.headers["location"] == URLS["successUrl"]
    state = (await sandbox.get("/order", clientOrderId="hpp-1")).json()
    assert state["orderState"] == "PAID"
    assert state["id"] == order["orderId"]
    [txn] = state["transactions"]
    assert txn["transactionType"] == "SALE"
    await sandbox.drain()
    [hook] = sandbox.receiver.received
    assert hook.body["eventName"] == "PURCHASED"
    assert hook.body["data"]["orderId"] == str(order["orderId"])
    assert hook.body["data"]["clientOrderId"] == "hpp-1"
    again = await _complete(sandbox, order)
    assert again.status_code == 409


async def test_declined_card_redirects_to_failed_and_may_retry(sandbox: Harness) -> None:
    order = await _order(sandbox, mode="AUTHORIZATION")

    declined = await _complete(sandbox, order, cardNumber="4532802195368940")
    retried = await _complete(sandbox, order)

    assert declined.headers["location"] == URLS["failedUrl"]
    assert retried.headers["location"] == URLS["successUrl"]
    await sandbox.drain()
    assert sandbox.receiver.events == ["AUTHORISATION_FAILED", "AUTHORISED"]


async def test_pending_amount_redirects_to_pending(sandbox: Harness) -> None:
    order = await _order(sandbox, amount=Decimal("1002.00"))

    response = await _complete(sandbox, order)

    assert response.headers["location"] == URLS["pendingUrl"]


async def test_cancel_redirects_without_charging(sandbox: Harness) -> None:
    order = await _order(sandbox)

    response = await _complete(sandbox, order, action="cancel")

    assert response.headers["location"] == URLS["cancelUrl"]
    assert await sandbox.ledger() == []


async def test_invalid_card_rerenders_the_page(sandbox: Harness) -> None:
    order = await _order(sandbox)

    response = await _complete(sandbox, order, cardNumber="1234")

    assert response.status_code == 400
    assert "Card Number Invalid." in response.text
    assert await sandbox.ledger() == []


async def test_unknown_checkout_token_is_not_found(sandbox: Harness) -> None:
    assert (await sandbox.client.get("/checkout", params={"paymentToken": "nope"})).status_code == 404


@pytest.mark.parametrize(
    ("drop", "code"),
    [("successUrl", "GTW_2075"), ("failedUrl", "GTW_2075"), ("currency", "GTW_2018"), ("amount", "GTW_2002")],
)
async def test_hpp_order_requires_fields(sandbox: Harness, drop: str, code: str) -> None:
    body = {"amount": Decimal("42.00"), "currency": "USD", **URLS}
    body.pop(drop)

    response = await sandbox.post("/hpp/order", body)

    assert response.status_code == 400
    assert [error["responseCode"] for error in response.json()] == [code]


async def test_hpp_order_rejects_a_used_client_order_id(sandbox: Harness) -> None:
    await sandbox.sale(clientOrderId="taken")

    response = await sandbox.post(
        "/hpp/order", {"amount": Decimal("1.00"), "currency": "USD", "clientOrderId": "taken", **URLS}
    )

    assert response.json()[0]["responseCode"] == "GTW_2065"


async def test_hpp_order_needs_api_credentials(sandbox: Harness) -> None:
    response = await sandbox.client.post("/hpp/order", json={"amount": 1, "currency": "USD", **URLS})

    assert response.status_code == 401


async def test_redirects_keep_the_merchants_own_query_and_add_nothing(sandbox: Harness) -> None:
    urls = {name: f"{url}?cart_id=cart_1&lang=en" for name, url in URLS.items()}
    paid = await _order(sandbox, clientOrderId="hpp-q1", **urls)
    cancelled = await _order(sandbox, clientOrderId="hpp-q2", **urls)

    assert (await _complete(sandbox, paid)).headers["location"] == urls["successUrl"]
    assert (await _complete(sandbox, cancelled, action="cancel")).headers["location"] == urls["cancelUrl"]
