"""Gateway tokens: issued by approved card sales and authorizations and by `/createToken` (netvalve-api.md
§5.1, §5.7), listed by the control API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.support.sandbox import Harness, card_body, decoded

MINIMAL_CREATE_TOKEN_KEYS = {
    "traceID",
    "responseTimestamp",
    "responseCode",
    "paymentToken",
    "paymentTokenType",
}


async def _hpf_token(harness: Harness, card: str = "4012000098765439") -> str:
    token: str = (await harness.get("/hpf/initializeSession")).json()["paymentToken"]
    body = {
        "paymentToken": token,
        "cardNumber": card,
        "expiryMonth": "12",
        "expiryYear": "2030",
        "cvv": "999",
    }
    tokenized = await harness.client.post("/_sandbox/tokenize", json=body)
    assert tokenized.status_code == 200, tokenized.text
    return token


def _hpf_sale(token: str, **extra: Any) -> dict[str, Any]:
    return {
        "amount": Decimal("19.99"),
        "currency": "EUR",
        "paymentType": "CARD",
        "paymentToken": token,
        "siteId": "site-1",
    } | extra


def _create_token(token: str, **extra: Any) -> dict[str, Any]:
    return {"paymentToken": token, "currency": "USD", "netvalveMidId": "mid-uuid"} | extra


async def _tokens(harness: Harness) -> list[dict[str, Any]]:
    response = await harness.client.get("/_sandbox/tokens")
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


@pytest.mark.parametrize("path", ["/sale", "/authorize"])
async def test_an_approved_hpf_payment_issues_a_gateway_token(sandbox: Harness, path: str) -> None:
    hpf = await _hpf_token(sandbox)

    answer = (await sandbox.post(path, _hpf_sale(hpf, clientOrderId="first"))).json()

    assert answer["responseCode"] == "GTW_1000"
    assert answer["paymentTokenType"] == "GATEWAY_TOKEN"
    assert answer["paymentToken"] not in (None, "", hpf)
    assert (answer["cardNumber"], answer["cardType"]) == ("401200******5439", "VISA")
    assert (answer["cardExpiryMonth"], answer["cardExpiryYear"]) == ("12", "2030")
    [listed] = await _tokens(sandbox)
    assert listed == {
        "paymentToken": answer["paymentToken"],
        "paymentTokenType": "GATEWAY_TOKEN",
        "cardNumber": "401200******5439",
        "cardType": "VISA",
        "cardExpiryMonth": "12",
        "cardExpiryYear": "2030",
        "issuedBy": answer["transactionType"],
        "transactionID": answer["transactionID"],
        "createdAt": listed["createdAt"],
    }


async def test_every_approved_card_sale_issues_its_own_token_and_a_decline_none(sandbox: Harness) -> None:
    first = (await sandbox.sale(clientOrderId="a")).json()
    second = (await sandbox.sale(clientOrderId="b")).json()
    declined = (await sandbox.sale(card="4000000000009995", clientOrderId="c")).json()

    assert first["paymentTokenType"] == second["paymentTokenType"] == "GATEWAY_TOKEN"
    assert first["paymentToken"] != second["paymentToken"]
    assert declined["responseCode"] == "BNK_2011"
    assert (declined["paymentToken"], declined["paymentTokenType"]) == (None, None)
    assert {row["paymentToken"] for row in await _tokens(sandbox)} == {
        first["paymentToken"],
        second["paymentToken"],
    }


async def test_create_token_without_verify_answers_netvalves_minimal_body(sandbox: Harness) -> None:
    hpf = await _hpf_token(sandbox, card="6011000993026909")

    response = await sandbox.post("/createToken", _create_token(hpf, verify=False))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == MINIMAL_CREATE_TOKEN_KEYS
    assert (body["responseCode"], body["paymentTokenType"]) == ("GTW_1000", "GATEWAY_TOKEN")
    assert body["responseTimestamp"].endswith("+00:00")
    [listed] = await _tokens(sandbox)
    assert (listed["paymentToken"], listed["cardNumber"], listed["cardType"]) == (
        body["paymentToken"],
        "601100******6909",
        "DISCOVER",
    )
    assert (listed["issuedBy"], listed["transactionID"]) == ("CREATE_TOKEN", None)
    assert await sandbox.ledger() == []


async def test_create_token_with_verify_runs_a_zero_authorization(sandbox: Harness) -> None:
    hpf = await _hpf_token(sandbox)

    response = await sandbox.post("/createToken", _create_token(hpf, verify=True))

    body = decoded(response)
    assert (body["responseCode"], body["responseCodeType"]) == ("GTW_1000", "APPROVED")
    assert (body["transactionType"], body["amount"]) == ("AUTHORIZATION", Decimal("0.00"))
    assert body["paymentTokenType"] == "GATEWAY_TOKEN"
    assert (body["cardNumber"], body["cardType"], body["cardExpiryMonth"]) == (
        "401200******5439",
        "VISA",
        "12",
    )
    assert body["paymentChannelType"] == "GATEWAY_TOKEN_SAVING"
    [row] = await sandbox.ledger()
    assert (row["transactionID"], row["type"], row["amount"]) == (
        body["transactionID"],
        "AUTHORIZATION",
        "0.00",
    )
    [listed] = await _tokens(sandbox)
    assert (listed["paymentToken"], listed["transactionID"]) == (body["paymentToken"], body["transactionID"])
    await sandbox.drain()
    assert (await sandbox.webhook_log())["events"] == []


async def test_create_token_with_card_fields_and_a_declined_verification(sandbox: Harness) -> None:
    card = {key: value for key, value in card_body().items() if key.startswith("card")}
    approved = await sandbox.post("/createToken", card | {"currency": "USD", "siteId": "s", "verify": True})
    declined = await sandbox.post(
        "/createToken",
        card | {"cardNumber": "4532802195368940", "currency": "USD", "siteId": "s", "verify": True},
    )

    assert approved.json()["paymentTokenType"] == "GATEWAY_TOKEN"
    assert (declined.json()["responseCode"], declined.json()["paymentToken"]) == ("BNK_2005", None)
    assert [row["paymentToken"] for row in await _tokens(sandbox)] == [approved.json()["paymentToken"]]


async def test_create_token_refuses_what_it_cannot_tokenize(sandbox: Harness) -> None:
    hpf = await _hpf_token(sandbox)
    assert (await sandbox.post("/createToken", _create_token(hpf))).status_code == 200

    used = await sandbox.post("/createToken", _create_token(hpf))
    unknown = await sandbox.post("/createToken", _create_token("not-a-token"))
    nothing = await sandbox.post("/createToken", {"currency": "USD", "siteId": "s"})
    no_mid = await sandbox.post("/createToken", {"paymentToken": hpf})

    assert used.status_code == unknown.status_code == nothing.status_code == no_mid.status_code == 400
    assert "Already Used" in used.json()[0]["responseMessage"]
    assert unknown.json()[0]["responseCode"] == "GTW_2034"
    assert nothing.json()[0]["responseCode"] == "GTW_2032"
    assert no_mid.json()[0]["responseCode"] == "GTW_2085"
    assert len(await _tokens(sandbox)) == 1


async def test_tokens_are_forgotten_on_reset(sandbox: Harness) -> None:
    await sandbox.sale(clientOrderId="a")
    assert len(await _tokens(sandbox)) == 1

    await sandbox.client.post("/_sandbox/reset")

    assert await _tokens(sandbox) == []
