from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.sandbox import Harness, MakeHarness


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


async def _session(harness: Harness) -> dict[str, Any]:
    response = await harness.get("/hpf/initializeSession")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def _tokenize(harness: Harness, token: str, card: str = "4012000098765439", **extra: str) -> Any:
    body = {
        "paymentToken": token,
        "cardNumber": card,
        "expiryMonth": "12",
        "expiryYear": "2030",
        "cvv": "999",
    }
    return await harness.client.post("/_sandbox/tokenize", json=body | extra)


def _token_sale(token: str, **extra: Any) -> dict[str, Any]:
    return {
        "amount": Decimal("19.99"),
        "currency": "EUR",
        "paymentType": "CARD",
        "paymentToken": token,
        "siteId": "site-1",
        "customerEmail": "shopper@example.com",
    } | extra


async def test_initialize_session_matches_netvalve(sandbox: Harness) -> None:
    session = await _session(sandbox)

    assert session["responseCode"] == "GTW_1003"
    assert session["responseMessage"] == "Hosted Payment Fields Token Created Successful."
    assert session["version"] == "sandbox"
    src = urlsplit(session["netvalveScriptSrc"])
    assert (src.scheme, src.netloc, src.path) == ("http", "127.0.0.1:8081", "/sdk/index.sandbox.js")
    query = parse_qs(src.query)
    assert query == {
        "version": ["sandbox"],
        "paymentToken": [session["paymentToken"]],
        "jwtToken": [session["jwtToken"]],
    }


async def test_integrity_is_the_sri_hash_of_the_served_script(sandbox: Harness) -> None:
    session = await _session(sandbox)

    script = await sandbox.client.get(urlsplit(session["netvalveScriptSrc"]).path)

    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    expected = "sha384-" + base64.b64encode(hashlib.sha384(script.content).digest()).decode()
    assert session["integrity"] == expected
    for name in (
        "window.Netvalve",
        "initTokenFields",
        "tokenizeFields",
        "allFieldsTokenized",
        "isTokenizing",
    ):
        assert name in script.text
    assert "/sdk/fields/" in script.text
    assert 'createElement("iframe")' in script.text


async def test_jwt_is_a_signed_five_minute_netvalve_token(sandbox: Harness) -> None:
    jwt = (await _session(sandbox))["jwtToken"]
    header, payload, signature = jwt.split(".")

    claims = json.loads(_b64(payload))
    assert json.loads(_b64(header)) == {"alg": "HS256", "typ": "JWT"}
    assert claims["iss"] == "NETVALVE"
    assert claims["exp"] - claims["iat"] == 300
    secret = sandbox.sandbox.settings.jwt_secret.get_secret_value().encode()
    expected = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert _b64(signature) == expected


async def test_tokenized_session_pays_once(sandbox: Harness) -> None:
    token = (await _session(sandbox))["paymentToken"]
    tokenized = await _tokenize(sandbox, token)
    assert tokenized.status_code == 200
    assert tokenized.json()["cardType"] == "VISA"

    sale = (await sandbox.post("/sale", _token_sale(token, clientOrderId="hpf-1"))).json()

    assert sale["responseCode"] == "GTW_1000"
    assert sale["cardNumber"] == "401200******5439"
    # An approved card payment issues a gateway token (netvalve-api.md §5.1): the answer carries it.
    assert sale["paymentToken"] != token
    assert sale["paymentTokenType"] == "GATEWAY_TOKEN"
    assert sale["paymentChannelType"] == "HOSTED_PAYMENT_FIELDS"
    reuse = await sandbox.post("/sale", _token_sale(token, clientOrderId="hpf-2"))
    assert reuse.status_code == 400
    assert reuse.json()[0]["responseCode"] == "GTW_2034"
    assert "Already Used" in reuse.json()[0]["responseMessage"]
    assert (await _tokenize(sandbox, token)).status_code == 409


async def test_authorize_with_a_tokenized_declining_card(sandbox: Harness) -> None:
    token = (await _session(sandbox))["paymentToken"]
    await _tokenize(sandbox, token, card="4000000000009995")

    body = (await sandbox.post("/authorize", _token_sale(token))).json()

    assert (body["responseCode"], body["transactionType"]) == ("BNK_2011", "AUTHORIZATION")


async def test_token_that_was_never_tokenized_is_rejected(sandbox: Harness) -> None:
    token = (await _session(sandbox))["paymentToken"]

    response = await sandbox.post("/sale", _token_sale(token))

    assert response.status_code == 400
    [error] = response.json()
    assert error["responseCode"] == "GTW_2034"
    assert error["responseMessage"].startswith("Validation error for field = paymentToken")
    assert "Not Tokenized" in error["responseMessage"]
    assert await sandbox.ledger() == []


async def test_tokenize_rejects_unknown_tokens_and_bad_cards(sandbox: Harness) -> None:
    unknown = await _tokenize(sandbox, "00000000-0000-4000-8000-000000000000")
    assert (unknown.status_code, unknown.json()["success"]) == (404, False)

    token = (await _session(sandbox))["paymentToken"]
    bad_card = await _tokenize(sandbox, token, card="4111111111111112")
    assert bad_card.status_code == 400
    assert bad_card.json()["fieldName"] == "cardNumber"
    forged = await _tokenize(sandbox, token, jwtToken="a.b.c")
    assert forged.status_code == 410


async def test_expired_session_can_neither_tokenize_nor_pay(make_harness: MakeHarness) -> None:
    harness = await make_harness(hpf_token_ttl_seconds=0.05)
    tokenized = (await _session(harness))["paymentToken"]
    await _tokenize(harness, tokenized)
    untouched = (await _session(harness))["paymentToken"]

    await asyncio.sleep(0.1)

    assert (await _tokenize(harness, untouched)).status_code == 410
    sale = await harness.post("/sale", _token_sale(tokenized))
    assert sale.status_code == 400
    assert "Expired" in sale.json()[0]["responseMessage"]


async def _tokenize_field(harness: Harness, token: str, field: str, value: str, **extra: str) -> Any:
    body = {"paymentToken": token, "fieldName": field, "value": value} | extra
    return await harness.client.post("/sdk/fields/tokenize", json=body)


@pytest.mark.parametrize("field", ["cardNumber", "cardExpiry", "cardCvv"])
async def test_each_card_field_is_its_own_frame_page(sandbox: Harness, field: str) -> None:
    page = await sandbox.client.get(f"/sdk/fields/{field}")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'data-field="{field}"' in page.text
    assert '<script src="/sdk/field.sandbox.js"></script>' in page.text
    assert "4532802195368940" in page.text  # the documented declining card that fails Luhn is accepted
    script = await sandbox.client.get("/sdk/field.sandbox.js")
    assert script.status_code == 200
    assert "postMessage" in script.text
    assert (await sandbox.client.get("/sdk/fields/cardHolder")).status_code == 404


async def test_three_field_frames_tokenize_the_card_behind_the_token(sandbox: Harness) -> None:
    session = await _session(sandbox)
    token, jwt = session["paymentToken"], session["jwtToken"]

    answers = [
        await _tokenize_field(sandbox, token, "cardNumber", "4012 0000 9876 5439", jwtToken=jwt),
        await _tokenize_field(sandbox, token, "cardExpiry", "12/30", jwtToken=jwt),
        await _tokenize_field(sandbox, token, "cardCvv", "999", jwtToken=jwt),
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    sale = (await sandbox.post("/sale", _token_sale(token, clientOrderId="fields-1"))).json()
    assert sale["responseCode"] == "GTW_1000"
    assert (sale["cardNumber"], sale["cardExpiryMonth"], sale["cardExpiryYear"]) == (
        "401200******5439",
        "12",
        "2030",
    )


async def test_two_fields_are_not_yet_a_card(sandbox: Harness) -> None:
    token = (await _session(sandbox))["paymentToken"]
    await _tokenize_field(sandbox, token, "cardNumber", "4012000098765439")
    await _tokenize_field(sandbox, token, "cardCvv", "999")

    response = await sandbox.post("/sale", _token_sale(token))

    assert response.status_code == 400
    assert "Not Tokenized" in response.json()[0]["responseMessage"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cardNumber", "4111 1111 1111 1112", "Card number is invalid."),
        ("cardExpiry", "13/30", "Expiry date is invalid. Use MM/YY."),
        ("cardExpiry", "1230", "Expiry date is invalid. Use MM/YY."),
        ("cardCvv", "12", "Security code is invalid."),
    ],
)
async def test_field_tokenization_refuses_bad_values_with_the_fields_message(
    sandbox: Harness, field: str, value: str, message: str
) -> None:
    token = (await _session(sandbox))["paymentToken"]

    response = await _tokenize_field(sandbox, token, field, value)

    assert response.status_code == 400
    assert response.json() == {"success": False, "message": message, "fieldName": field}


async def test_field_tokenization_needs_a_live_session(sandbox: Harness) -> None:
    unknown = await _tokenize_field(sandbox, "00000000-0000-4000-8000-000000000000", "cardCvv", "999")
    token = (await _session(sandbox))["paymentToken"]
    forged = await _tokenize_field(sandbox, token, "cardCvv", "999", jwtToken="a.b.c")

    assert unknown.status_code == 404
    assert forged.status_code == 410
