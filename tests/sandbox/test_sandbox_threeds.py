"""The sandbox's 3-D Secure v2: documented answer shapes per test card, the challenge and device-data pages,
and a sale carrying the authentication."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.sandbox import Harness, card_body, decoded

BROWSER = {
    "userAgent": "Mozilla/5.0",
    "browserHeader": "text/html",
    "browserJavaEnabled": False,
    "browserLanguage": "en-GB",
    "browserColorDepth": 24,
    "browserScreenHeight": 1080,
    "browserScreenWidth": 1920,
    "browserTimeZone": -60,
}
# What NetValve's v2 3DS authentication guide marks required besides the transaction and the MID.
AUTHENTICATION = {
    "amount": Decimal("30.00"),
    "currency": "USD",
    "customerName": "Ada",
    "customerLastName": "Lovelace",
    "customerCountryCode": "IE",
}


def init_body(card: str, **extra: Any) -> dict[str, Any]:
    body = card_body(card, amount="30.00") | BROWSER | extra
    del body["paymentType"]
    return body


async def initialize(sandbox: Harness, card: str, **extra: Any) -> dict[str, Any]:
    response = await sandbox.post("/3ds/v2/initialization", init_body(card, **extra))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = decoded(response)
    return body


def page_token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.mark.parametrize(("card", "eci"), [("4100000000000100", "05"), ("5100000000000107", "02")])
async def test_frictionless_card_is_authenticated_at_once(sandbox: Harness, card: str, eci: str) -> None:
    body = await initialize(sandbox, card)
    assert (body["responseCode"], body["responseCodeType"]) == ("3DS_1000", "APPROVED")
    provider = body["threeDSProviderResponse"]
    assert provider["status"] == "AUTHENTICATED"
    assert provider["eci"] == eci
    assert provider["cavv"]
    assert provider["transID"]
    assert provider["threeDs2TransactionId"]
    assert provider["redirectUrl"] is None


async def test_challenge_page_completes_and_result_carries_the_proof(sandbox: Harness) -> None:
    provider = (await initialize(sandbox, "4100000000005000"))["threeDSProviderResponse"]
    assert (provider["status"], provider["challengeRequired"], provider["cavv"]) == (
        "ACS_REQUIRED",
        True,
        None,
    )
    token = page_token(provider["redirectUrl"])
    unanswered = decoded(
        await sandbox.post("/3ds/result", {"transID": provider["transID"], "siteId": "site-1"})
    )
    # NetValve's "ACS not completed by user": a non-final status, no proof, and not a decline type.
    assert (unanswered["responseCode"], unanswered.get("responseCodeType")) == ("3DS_2011", None)
    pending = unanswered["threeDSProviderResponse"]
    assert (pending["status"], pending["transID"], pending["eci"], pending["cavv"]) == (
        "ACS_REQUIRED",
        provider["transID"],
        None,
        None,
    )

    page = await sandbox.client.get("/3ds/challenge", params={"token": token})
    assert page.status_code == 200
    assert "threeds-complete" in page.text
    assert "threeds-fail" in page.text
    done = await sandbox.client.post("/3ds/challenge", data={"token": token, "action": "complete"})
    assert "postMessage" in done.text
    assert '"status": "ACS_COMPLETED"' in done.text

    result = decoded(await sandbox.post("/3ds/result", {"transID": provider["transID"], "siteId": "site-1"}))
    completed = result["threeDSProviderResponse"]
    assert (completed["status"], completed["eci"]) == ("COMPLETED", "05")
    assert completed["cavv"]


@pytest.mark.parametrize(("card", "action"), [("4100000000005000", "fail"), ("4100000000300005", "complete")])
async def test_failed_challenge_results_in_result_failed(sandbox: Harness, card: str, action: str) -> None:
    provider = (await initialize(sandbox, card))["threeDSProviderResponse"]
    token = page_token(provider["redirectUrl"])
    done = await sandbox.client.post("/3ds/challenge", data={"token": token, "action": action})
    assert '"result": "FAILED"' in done.text
    result = decoded(await sandbox.post("/3ds/result", {"transID": provider["transID"], "siteId": "site-1"}))
    failed = result["threeDSProviderResponse"]
    assert (failed["status"], failed["errorCode"], failed["cavv"]) == ("RESULT_FAILED", "3DS_2005", None)


async def test_challenge_redirects_to_the_merchant_when_asked(sandbox: Harness) -> None:
    back = "https://shop.test/checkout?cart_id=c1"
    provider = (await initialize(sandbox, "4100000000005000", merchantRedirectUrl=back))[
        "threeDSProviderResponse"
    ]
    done = await sandbox.client.post(
        "/3ds/challenge", data={"token": page_token(provider["redirectUrl"]), "action": "complete"}
    )
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith(back + "&")
    query = parse_qs(urlsplit(location).query)
    assert (query["result"], query["transID"], query["threeDsStatus"]) == (
        ["SUCCESS"],
        [provider["transID"]],
        ["ACS_COMPLETED"],
    )


@pytest.mark.parametrize(
    ("card", "after"), [("4100000000600008", "ACS_REQUIRED"), ("4100000000700006", "AUTHENTICATED")]
)
async def test_device_data_frame_then_authentication(sandbox: Harness, card: str, after: str) -> None:
    provider = (await initialize(sandbox, card))["threeDSProviderResponse"]
    assert provider["status"] == "INITIALIZED"
    frame = await sandbox.client.get(
        "/3ds/device-data", params={"token": page_token(provider["redirectUrl"])}
    )
    assert "DEVICE_DATA_COLLECTED" in frame.text
    assert "postMessage" in frame.text
    authenticated = await sandbox.post(
        "/3ds/authentication", {"transID": provider["transID"], "siteId": "site-1"} | AUTHENTICATION
    )
    assert decoded(authenticated)["threeDSProviderResponse"]["status"] == after


@pytest.mark.parametrize("missing", sorted(AUTHENTICATION))
async def test_authentication_without_a_required_field_is_refused(sandbox: Harness, missing: str) -> None:
    provider = (await initialize(sandbox, "4100000000700006"))["threeDSProviderResponse"]
    body = {"transID": provider["transID"], "siteId": "site-1"} | AUTHENTICATION
    del body[missing]
    refused = await sandbox.post("/3ds/authentication", body)
    assert refused.status_code == 400, refused.text
    assert [f"field = {missing} " in error["responseMessage"] for error in refused.json()] == [True]
    # Nothing moved: the complete request still authenticates.
    body[missing] = AUTHENTICATION[missing]
    authenticated = await sandbox.post("/3ds/authentication", body)
    assert decoded(authenticated)["threeDSProviderResponse"]["status"] == "AUTHENTICATED"


async def test_authentication_refuses_a_country_code_netvalve_cannot_read(sandbox: Harness) -> None:
    provider = (await initialize(sandbox, "4100000000700006"))["threeDSProviderResponse"]
    body = {"transID": provider["transID"], "siteId": "site-1"} | AUTHENTICATION
    refused = await sandbox.post("/3ds/authentication", body | {"customerCountryCode": "IRL"})
    assert refused.status_code == 400, refused.text


async def test_threeds_sessions_show_what_initialization_and_authentication_received(
    sandbox: Harness,
) -> None:
    provider = (await initialize(sandbox, "4100000000700006", cardHolderName="Grace Hopper"))[
        "threeDSProviderResponse"
    ]
    body = {"transID": provider["transID"], "siteId": "site-1"} | AUTHENTICATION
    await sandbox.post("/3ds/authentication", body | {"customerEmail": "ada@example.com"})
    [session] = decoded(await sandbox.client.get("/_sandbox/threeds"))
    assert (session["transID"], session["cardHolderName"], session["status"]) == (
        provider["transID"],
        "Grace Hopper",
        "AUTHENTICATED",
    )
    assert session["authentication"] == {
        "amount": Decimal("30.00"),
        "currency": "USD",
        "customerName": "Ada",
        "customerLastName": "Lovelace",
        "customerCountryCode": "IE",
        "customerEmail": "ada@example.com",
    }
    assert "4100000000700006" not in json.dumps(session, default=str)


async def test_authentication_failed_card(sandbox: Harness) -> None:
    body = await initialize(sandbox, "4100000000500000")
    provider = body["threeDSProviderResponse"]
    assert body["responseCode"] == "3DS_1000"
    assert (provider["status"], provider["errorCode"], provider["eci"]) == (
        "AUTHENTICATION_FAILED",
        "3DS_2005",
        "07",
    )


async def test_provider_error_card(sandbox: Harness) -> None:
    response = await sandbox.post("/3ds/v2/initialization", init_body("4100000000400003"))
    assert response.status_code == 200
    body = decoded(response)
    assert (body["responseCode"], body["responseCodeType"]) == ("3DS_2009", "SOFT DECLINE")
    assert "threeDSProviderResponse" not in body


async def test_missing_browser_data_is_a_validation_error(sandbox: Harness) -> None:
    body = init_body("4100000000000100")
    del body["userAgent"]
    response = await sandbox.post("/3ds/v2/initialization", body)
    assert response.status_code == 400
    assert any("userAgent" in error["responseMessage"] for error in response.json())


async def test_unknown_transaction_is_404(sandbox: Harness) -> None:
    response = await sandbox.post("/3ds/result", {"transID": "nope", "siteId": "site-1"})
    assert (response.status_code, response.json()["responseCode"]) == (404, "3DS_2001")


async def test_sale_records_the_3ds_data_it_carries(sandbox: Harness) -> None:
    provider = (await initialize(sandbox, "4100000000000100"))["threeDSProviderResponse"]
    proof = {"dsTransactionId": provider["threeDs2TransactionId"], "eci": "05", "cavv": provider["cavv"]}
    sale = await sandbox.sale(card="4100000000000100", **{"3DS": proof})
    assert sale.status_code == 200
    [row] = await sandbox.ledger()
    assert row["threeDS"] == proof
    assert Decimal(row["amount"]) == Decimal("12.50")
