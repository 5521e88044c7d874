from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from netvalve_sandbox.cards import APPROVING_TEST_CARDS, DECLINING_TEST_CARDS
from tests.support.sandbox import Harness, card_body, decoded

APPROVING_CARDS = [
    ("6011000993026909", "DISCOVER", "601100******6909"),
    ("4012000098765439", "VISA", "401200******5439"),
    ("371449635392376", "AMEX", "371449*****2376"),
    ("4716160000000009", "VISA", "471616******0009"),
    ("4100000000000100", "VISA", "410000******0100"),
    ("5100000000000107", "MASTERCARD", "510000******0107"),
    ("4000000000002701", "VISA", "400000******2701"),
    ("4242424242424242", "VISA", "424242******4242"),
]
DECLINING_CARDS = [
    ("4532802195368940", "BNK_2005", "Do Not Honour", "SOFT DECLINE", "05"),
    ("4000000000009995", "BNK_2011", "Insufficient Funds", "SOFT DECLINE", "51"),
    ("4000000000000002", "BNK_2000", "Refer To Card Issuer.", "SOFT DECLINE", "01"),
    ("4100000000300005", "BNK_3002", "Lost Card - Pick Up", "HARD DECLINE", "41"),
]


def test_every_documented_test_card_is_covered() -> None:
    assert {card for card, _, _ in APPROVING_CARDS} >= APPROVING_TEST_CARDS
    assert {card for card, *_ in DECLINING_CARDS} == set(DECLINING_TEST_CARDS)


@pytest.mark.parametrize(("card", "brand", "masked"), APPROVING_CARDS)
async def test_approving_cards_are_approved_with_a_full_envelope(
    sandbox: Harness, card: str, brand: str, masked: str
) -> None:
    response = await sandbox.sale(card=card, clientOrderId=f"order-{card}")

    assert response.status_code == 200
    body = decoded(response)
    assert body["responseCode"] == "GTW_1000"
    assert body["responseCodeType"] == "APPROVED"
    assert body["responseMessage"] == "Transaction Approved/ Request Successful."
    assert body["transactionType"] == "SALE"
    assert body["cardNumber"] == masked
    assert body["cardType"] == brand
    assert body["amount"] == Decimal("12.50")
    assert '"amount":12.50' in response.text
    assert isinstance(body["transactionID"], int)
    assert isinstance(body["orderId"], int)
    assert body["responseTimestamp"].endswith("+00:00")
    assert body["authCode"]
    assert body["bankTransactionId"]
    assert body["bankResponseCode"] == "00"
    assert (body["cardExpiryMonth"], body["cardExpiryYear"]) == ("12", "2030")
    assert body["clientOrderId"] == f"order-{card}"
    assert body["siteId"] == "site-1"


@pytest.mark.parametrize(("card", "code", "message", "code_type", "bank_code"), DECLINING_CARDS)
async def test_declining_cards_decline_with_http_200(
    sandbox: Harness, card: str, code: str, message: str, code_type: str, bank_code: str
) -> None:
    response = await sandbox.sale(card=card)

    assert response.status_code == 200
    body = response.json()
    assert (body["responseCode"], body["responseMessage"], body["responseCodeType"]) == (
        code,
        message,
        code_type,
    )
    assert body["bankResponseCode"] == bank_code
    assert body["authCode"] is None
    [row] = await sandbox.ledger()
    assert row["state"] == "Declined"


async def test_transaction_ids_increment(sandbox: Harness) -> None:
    first = (await sandbox.sale()).json()["transactionID"]
    second = (await sandbox.authorize()).json()["transactionID"]

    assert second == first + 1


async def test_expired_card_is_declined_by_the_bank(sandbox: Harness) -> None:
    body = (await sandbox.sale(cardExpireYear="2020")).json()

    assert (body["responseCode"], body["bankResponseCode"]) == ("BNK_2004", "54")


async def test_card_failing_luhn_is_a_validation_error(sandbox: Harness) -> None:
    response = await sandbox.sale(card="4012000098765438")

    assert response.status_code == 400
    assert response.json() == [
        {
            "responseCode": "GTW_2034",
            "responseMessage": "Validation error for field = cardNumber  Message:- Card Number Invalid.",
            "responseCodeType": "SOFT DECLINE",
        }
    ]
    assert await sandbox.ledger() == []


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"amount": Decimal("12.505")}, "GTW_2003", "amount"),
        ({"amount": Decimal("0.00")}, "GTW_2004", "amount"),
        ({"amount": Decimal("-5.00")}, "GTW_2004", "amount"),
        ({"amount": "twelve"}, "GTW_2002", "amount"),
        ({"currency": None}, "GTW_2018", "currency"),
        ({"currency": "usd"}, "GTW_2019", "currency"),
        ({"paymentType": None}, "GTW_2092", "paymentType"),
        ({"paymentType": "CHEQUE"}, "GTW_2093", "paymentType"),
        ({"clientOrderId": "x" * 101}, "GTW_2020", "clientOrderId"),
        ({"siteId": None}, "GTW_2085", "midId"),
        ({"cardNumber": None}, "GTW_2032", "cardNumber"),
        ({"cardExpireMonth": "13"}, "GTW_2024", "cardExpireMonth"),
    ],
)
async def test_field_errors_are_a_400_array(
    sandbox: Harness, change: dict[str, Any], code: str, field: str
) -> None:
    body = {key: value for key, value in (card_body() | change).items() if value is not None}

    response = await sandbox.post("/sale", body)

    assert response.status_code == 400
    errors = response.json()
    assert isinstance(errors, list)
    assert [error["responseCode"] for error in errors] == [code]
    assert errors[0]["responseMessage"].startswith(f"Validation error for field = {field}")
    assert errors[0]["responseCodeType"] in {"SOFT DECLINE", "HARD DECLINE"}
    assert await sandbox.ledger() == []


async def test_every_field_error_is_reported_at_once(sandbox: Harness) -> None:
    response = await sandbox.post("/authorize", {"amount": Decimal("1.001")})

    codes = {error["responseCode"] for error in response.json()}
    assert codes == {"GTW_2003", "GTW_2018", "GTW_2085", "GTW_2092"}


async def test_malformed_json_is_a_validation_error(sandbox: Harness) -> None:
    response = await sandbox.client.post("/sale", content=b"{not json", headers={**_auth()})

    assert response.status_code == 400
    assert response.json()[0]["responseCode"] == "GTW_2063"


def _auth() -> dict[str, str]:
    return {"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"}


async def test_several_merchant_identifiers_are_allowed_and_recorded(sandbox: Harness) -> None:
    response = await sandbox.sale(midId=7, netvalveMidId="0b81bdb1-aaaa-bbbb-cccc-000000000001")

    body = response.json()
    assert body["responseCode"] == "GTW_1000"
    assert (body["midId"], body["netvalveMidId"], body["siteId"]) == (
        7,
        "0b81bdb1-aaaa-bbbb-cccc-000000000001",
        "site-1",
    )
    [row] = await sandbox.ledger()
    assert row["routing"]["multipleIdentifiers"] is True
    assert row["routing"]["smartRouting"] is False
    assert row["routing"]["identifiers"] == ["midId", "netvalveMidId", "siteId"]


async def test_processing_error_amount(sandbox: Harness) -> None:
    response = await sandbox.sale(amount="9999.00")

    assert response.status_code == 200
    body = response.json()
    assert (body["responseCode"], body["responseCodeType"]) == ("GTW_9999", "HARD DECLINE")
    await sandbox.drain()
    assert sandbox.receiver.events == ["PURCHASE_FAILED"]


async def test_pending_amount_settles_and_then_announces_success(sandbox: Harness) -> None:
    pending = (await sandbox.sale(amount="1002.00", clientOrderId="pending-1")).json()
    assert (pending["responseCode"], pending["responseCodeType"]) == ("GTW_1002", "PENDING")
    transaction_id = pending["transactionID"]

    still_pending = (await sandbox.get("/inquiry", transactionId=transaction_id)).json()
    assert still_pending["responseCode"] == "GTW_1002"
    capture_too_early = await sandbox.post("/refund", {"transactionID": transaction_id})
    assert capture_too_early.json()["responseCode"] == "GTW_2049"

    await asyncio.sleep(0.25)
    settled = (await sandbox.get("/inquiry", transactionId=transaction_id)).json()

    assert (settled["responseCode"], settled["responseCodeType"]) == ("GTW_1000", "APPROVED")
    assert settled["transactionID"] == transaction_id
    await sandbox.drain()
    assert sandbox.receiver.events == ["PURCHASE_PENDING", "PURCHASED"]
    assert {item.body["data"]["transactionId"] for item in sandbox.receiver.received} == {transaction_id}


async def test_pending_authorization_announces_authorisation_events(sandbox: Harness) -> None:
    await sandbox.authorize(amount="1002.00")
    await asyncio.sleep(0.25)
    await sandbox.drain()

    assert sandbox.receiver.events == ["AUTHORISATION_PENDING", "AUTHORISED"]


@pytest.mark.parametrize("first_card", ["4012000098765439", "4000000000009995"])
async def test_duplicate_client_order_id_is_rejected(sandbox: Harness, first_card: str) -> None:
    await sandbox.sale(card=first_card, clientOrderId="cart-1")

    response = await sandbox.authorize(clientOrderId="cart-1")

    assert response.status_code == 400
    [error] = response.json()
    assert error["responseCode"] == "GTW_2065"
    assert "Client Order Id Duplicate or Invalid" in error["responseMessage"]
    assert len(await sandbox.ledger()) == 1


async def test_authorize_partial_capture_and_refunds_down_to_zero(sandbox: Harness) -> None:
    auth = (await sandbox.authorize(amount="100.00", clientOrderId="life-1")).json()
    assert (auth["transactionType"], auth["transactionStatus"]) == ("AUTHORIZATION", "Authorised")
    auth_id = auth["transactionID"]

    capture = await sandbox.post(
        "/capture",
        {"transactionID": auth_id, "amount": Decimal("80.00"), "captureOptions": {"finalCapture": True}},
    )
    capture_body = decoded(capture)
    assert capture_body["responseCode"] == "GTW_1000"
    assert capture_body["transactionType"] == "CAPTURE"
    assert capture_body["amount"] == Decimal("80.00")
    assert capture_body["referenceTransactionID"] == auth_id
    capture_id = capture_body["transactionID"]
    assert capture_id != auth_id

    detail = (await sandbox.get("/transaction", id=auth_id)).json()
    assert detail["status"] == "PARTIALLY_SETTLED"
    assert detail["allowedActions"] == ["REFUND"]
    ledger = await sandbox.ledger()
    assert [(row["type"], row["amount"], row["parentID"]) for row in ledger] == [
        ("AUTHORIZATION", "100.00", None),
        ("CAPTURE", "80.00", auth_id),
        ("CANCEL", "20.00", auth_id),
    ]

    first = (await sandbox.post("/refund", {"transactionID": capture_id, "amount": Decimal("30.00")})).json()
    assert (first["responseCode"], first["transactionType"]) == ("GTW_1000", "REFUND")
    second = (await sandbox.post("/refund", {"transactionID": auth_id, "amount": Decimal("40.00")})).json()
    assert second["responseCode"] == "GTW_1000"
    assert second["referenceTransactionID"] == capture_id
    assert first["transactionID"] != second["transactionID"]

    too_much = await sandbox.post("/refund", {"transactionID": capture_id, "amount": Decimal("10.01")})
    assert too_much.status_code == 200
    assert (too_much.json()["responseCode"], too_much.json()["responseCodeType"]) == (
        "GTW_2108",
        "SOFT DECLINE",
    )

    rest = (await sandbox.post("/refund", {"transactionID": capture_id})).json()
    assert rest["responseCode"] == "GTW_1000"
    assert decoded_amount(rest) == Decimal("10.00")

    again = await sandbox.post("/refund", {"transactionID": capture_id, "amount": Decimal("1.00")})
    assert again.json()["responseCode"] == "GTW_2045"

    inquiry = (await sandbox.get("/inquiry", transactionId=capture_id)).json()
    assert inquiry["transactionStatus"] == "Refunded"
    capture_detail = (await sandbox.get("/transaction", id=capture_id)).json()
    assert capture_detail["refundBalancedAmount"] == 0
    assert [child["transactionType"] for child in capture_detail["transactions"]] == ["REFUND"] * 3
    await sandbox.drain()
    assert sandbox.receiver.events == ["AUTHORISED", "CAPTURED", "REFUNDED", "REFUNDED", "REFUNDED"]


def decoded_amount(body: dict[str, Any]) -> Decimal:
    return Decimal(str(body["amount"]))


async def test_partial_refund_status_and_balance(sandbox: Harness) -> None:
    sale = (await sandbox.sale(amount="50.00")).json()
    await sandbox.post("/refund", {"transactionID": sale["transactionID"], "amount": Decimal("20.00")})

    response = await sandbox.get("/transaction", id=sale["transactionID"])

    detail = decoded(response)
    assert detail["status"] == "Partially Refunded"
    assert detail["refundBalancedAmount"] == Decimal("30.00")
    assert '"refundBalancedAmount":30.00' in response.text
    assert detail["netvalveID"] == sale["transactionID"]


async def test_full_capture_without_final_capture_flag(sandbox: Harness) -> None:
    auth_id = (await sandbox.authorize(amount="25.00")).json()["transactionID"]

    capture = await sandbox.post("/capture", {"transactionID": auth_id, "amount": Decimal("25.00")})

    assert capture.json()["responseCode"] == "GTW_1000"
    assert (await sandbox.get("/transaction", id=auth_id)).json()["status"] == "Settled"
    assert [row["type"] for row in await sandbox.ledger()] == ["AUTHORIZATION", "CAPTURE"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": Decimal("10.00")}, 400, "GTW_2038"),
        ({"amount": Decimal("10.00"), "captureOptions": {"finalCapture": False}}, 400, "GTW_2038"),
        ({"amount": Decimal("25.01"), "captureOptions": {"finalCapture": True}}, 200, "GTW_2124"),
        ({}, 400, "GTW_2002"),
    ],
)
async def test_capture_amount_rules(sandbox: Harness, body: dict[str, Any], status: int, code: str) -> None:
    auth_id = (await sandbox.authorize(amount="25.00")).json()["transactionID"]

    response = await sandbox.post("/capture", {"transactionID": auth_id, **body})

    assert response.status_code == status
    payload = response.json()
    assert (payload[0] if status == 400 else payload)["responseCode"] == code
    assert len(await sandbox.ledger()) == 1


async def test_capture_state_rules(sandbox: Harness) -> None:
    auth_id = (await sandbox.authorize(amount="25.00")).json()["transactionID"]
    sale_id = (await sandbox.sale()).json()["transactionID"]
    declined_id = (await sandbox.authorize(card="4000000000009995")).json()["transactionID"]
    await sandbox.post("/capture", {"transactionID": auth_id, "amount": Decimal("25.00")})

    async def capture(transaction_id: int) -> str:
        response = await sandbox.post(
            "/capture", {"transactionID": transaction_id, "amount": Decimal("1.00")}
        )
        code: str = response.json()["responseCode"]
        return code

    assert await capture(auth_id) == "GTW_2046"
    assert await capture(sale_id) == "GTW_2046"
    assert await capture(declined_id) == "GTW_2013"
    unknown = await sandbox.post("/capture", {"transactionID": 999999, "amount": Decimal("1.00")})
    assert (unknown.status_code, unknown.json()["responseCode"]) == (404, "GTW_2103")
    missing_id = await sandbox.post("/capture", {"amount": Decimal("1.00")})
    assert missing_id.json()[0]["responseCode"] == "GTW_2048"


async def test_a_capture_after_the_authorization_lapsed_is_declined_amount_no_longer_available(
    sandbox: Harness,
) -> None:
    """The issuer releases a hold after `authorization_lifetime_days` (10 by default) by the gateway's
    calendar, which `PUT /_sandbox/clock` runs ahead; the capture is then recorded declined with BNK_2001."""
    young = (await sandbox.authorize(amount="25.00")).json()["transactionID"]
    await sandbox.post("/capture", {"transactionID": young, "amount": Decimal("25.00")})
    old = (await sandbox.authorize(amount="25.00")).json()["transactionID"]
    moved = await sandbox.client.put("/_sandbox/clock", json={"offset_seconds": 10 * 24 * 3600 + 60})
    assert moved.json()["offset_seconds"] == 10 * 24 * 3600 + 60

    capture = (await sandbox.post("/capture", {"transactionID": old, "amount": Decimal("25.00")})).json()

    assert (capture["responseCode"], capture["responseCodeType"]) == ("BNK_2001", "SOFT DECLINE")
    assert capture["responseMessage"] == "Amount No Longer Available."
    assert [(t["type"], t["responseCode"]) for t in await sandbox.ledger()][-1] == ("CAPTURE", "BNK_2001")
    await sandbox.client.post("/_sandbox/reset")
    assert (await sandbox.client.get("/_sandbox/clock")).json()["offset_seconds"] == 0


async def test_cancel_rules(sandbox: Harness) -> None:
    auth_id = (await sandbox.authorize(amount="40.00")).json()["transactionID"]

    cancel = (await sandbox.post("/cancel", {"transactionID": auth_id})).json()
    assert (cancel["responseCode"], cancel["transactionType"]) == ("GTW_1000", "CANCEL")
    assert cancel["transactionID"] != auth_id
    again = await sandbox.post("/cancel", {"transactionID": auth_id})
    assert again.json()["responseCode"] == "GTW_2047"
    capture = await sandbox.post("/capture", {"transactionID": auth_id, "amount": Decimal("40.00")})
    assert capture.json()["responseCode"] == "GTW_2047"
    refund = await sandbox.post("/refund", {"transactionID": auth_id})
    assert refund.json()["responseCode"] == "GTW_2047"
    detail = (await sandbox.get("/transaction", id=auth_id)).json()
    assert (detail["status"], detail["allowedActions"]) == ("Cancelled", [])

    sale_id = (await sandbox.sale()).json()["transactionID"]
    assert (await sandbox.post("/cancel", {"transactionID": sale_id})).json()["responseCode"] == "GTW_2046"
    captured_id = (await sandbox.authorize(amount="5.00")).json()["transactionID"]
    await sandbox.post("/capture", {"transactionID": captured_id, "amount": Decimal("5.00")})
    assert (await sandbox.post("/cancel", {"transactionID": captured_id})).json()[
        "responseCode"
    ] == "GTW_2046"

    await sandbox.drain()
    assert sandbox.receiver.events == ["AUTHORISED", "CANCELLED", "PURCHASED", "AUTHORISED", "CAPTURED"]


async def test_refund_of_an_uncaptured_authorization_is_refused(sandbox: Harness) -> None:
    auth_id = (await sandbox.authorize()).json()["transactionID"]

    response = await sandbox.post("/refund", {"transactionID": auth_id})

    assert (response.status_code, response.json()["responseCode"]) == (200, "GTW_2013")
    assert "transactionID" not in response.json()


async def test_order_lookup_lists_the_order_transactions(sandbox: Harness) -> None:
    auth = (await sandbox.authorize(amount="30.00", clientOrderId="cart-77")).json()
    await sandbox.post("/capture", {"transactionID": auth["transactionID"], "amount": Decimal("30.00")})

    by_client_id = decoded(await sandbox.get("/order", clientOrderId="cart-77"))
    by_id = (await sandbox.get("/order", id=auth["orderId"])).json()
    by_transaction = (await sandbox.get("/order", transactionId=auth["transactionID"])).json()

    assert by_client_id["id"] == auth["orderId"] == by_id["id"] == by_transaction["id"]
    assert by_client_id["orderState"] == "PAID"
    assert by_client_id["orderAmount"] == Decimal("30.00")
    assert [(item["transactionType"], item["status"]) for item in by_client_id["transactions"]] == [
        ("AUTHORIZATION", "Settled"),
        ("CAPTURE", "Settled"),
    ]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/order", {"clientOrderId": "never-seen"}),
        ("/inquiry", {"transactionId": 424242}),
        ("/transaction", {"id": 424242}),
    ],
)
async def test_unknown_lookups_are_reference_not_found(
    sandbox: Harness, path: str, params: dict[str, Any]
) -> None:
    response = await sandbox.get(path, **params)

    assert response.status_code == 404
    assert response.json()["responseCode"] == "GTW_2103"


async def test_inquiry_without_id_is_a_validation_error(sandbox: Harness) -> None:
    response = await sandbox.get("/inquiry")

    assert response.status_code == 400
    assert response.json()[0]["responseCode"] == "GTW_2048"


async def test_sale_returns_a_gateway_token_that_pays_again(sandbox: Harness) -> None:
    first = (await sandbox.sale(clientOrderId="first")).json()
    assert first["paymentTokenType"] == "GATEWAY_TOKEN"

    body = {
        "amount": Decimal("5.00"),
        "currency": "USD",
        "paymentType": "TOKEN",
        "paymentToken": first["paymentToken"],
        "netvalveMidId": "mid-uuid",
        "clientOrderId": "second",
    }
    second = (await sandbox.post("/sale", body)).json()

    assert second["responseCode"] == "GTW_1000"
    assert second["cardNumber"] == first["cardNumber"]
    unknown = await sandbox.post("/sale", body | {"paymentToken": "nope", "clientOrderId": "third"})
    assert unknown.json()[0]["responseCode"] == "GTW_2034"
