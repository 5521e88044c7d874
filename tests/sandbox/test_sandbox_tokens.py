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
        "citTransactionIDs": [],
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


# --- paying with a gateway token: customer- and merchant-initiated (cit-mit-trans.md) ---------------

INITIAL_CIT = {
    "requestTransactionType": "RECURRING",
    "recurringScheduleType": "CIT_COF",
    "recurrenceMode": "Initial",
}
CUSTOMER_PRESENT = {"credentialOnFileTransaction": "CIT", "requestTransactionType": "ECOMMERCE"}


def _mit(initial_transaction_id: object) -> dict[str, Any]:
    return {
        "requestTransactionType": "RECURRING",
        "recurringScheduleType": "MIT_UNSCHEDULED_COF",
        "recurrenceMode": "Repeated",
        "initialTransactionId": initial_transaction_id,
    }


def _token_sale(
    token: str, reference: str, additional_data: dict[str, Any] | None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": Decimal("7.25"),
        "currency": "USD",
        "paymentType": "TOKEN",
        "paymentToken": token,
        "netvalveMidId": "mid-uuid",
        "clientOrderId": reference,
    }
    if additional_data is not None:
        body["additionalData"] = additional_data
    return body | extra


async def _saved(harness: Harness, additional_data: dict[str, Any] | None = INITIAL_CIT) -> dict[str, Any]:
    """A card sale that issues a token, marked as the initial CIT unless told otherwise."""
    extra = {} if additional_data is None else {"additionalData": additional_data}
    answer: dict[str, Any] = (await harness.sale(clientOrderId="initial", **extra)).json()
    assert answer["paymentTokenType"] == "GATEWAY_TOKEN"
    return answer


async def test_a_customer_initiated_token_sale_needs_no_security_code(sandbox: Harness) -> None:
    saved = await _saved(sandbox, additional_data=None)

    answer = await sandbox.post("/sale", _token_sale(saved["paymentToken"], "cit", CUSTOMER_PRESENT))

    body = decoded(answer)
    assert (body["responseCode"], body["transactionType"], body["amount"]) == (
        "GTW_1000",
        "SALE",
        Decimal("7.25"),
    )
    assert (body["paymentToken"], body["paymentTokenType"]) == (saved["paymentToken"], "GATEWAY_TOKEN")
    assert (body["cardNumber"], body["cardType"], body["cardExpiryYear"]) == (
        "401200******5439",
        "VISA",
        "2030",
    )
    [_, row] = await sandbox.ledger()
    assert (row["paymentType"], row["additionalData"]) == ("TOKEN", CUSTOMER_PRESENT)
    assert len(await _tokens(sandbox)) == 1


async def test_a_security_code_sent_with_a_token_sale_must_look_like_one(sandbox: Harness) -> None:
    saved = await _saved(sandbox)

    good = await sandbox.post(
        "/sale", _token_sale(saved["paymentToken"], "cvv-1", CUSTOMER_PRESENT, cardSecurityCode="999")
    )
    bad = await sandbox.post(
        "/sale", _token_sale(saved["paymentToken"], "cvv-2", CUSTOMER_PRESENT, cardSecurityCode="9x")
    )

    assert good.json()["responseCode"] == "GTW_1000"
    assert bad.status_code == 400
    assert (bad.json()[0]["responseCode"], "cardSecurityCode" in bad.json()[0]["responseMessage"]) == (
        "GTW_2063",
        True,
    )


async def test_a_merchant_initiated_sale_after_the_initial_cit_is_approved(sandbox: Harness) -> None:
    saved = await _saved(sandbox)

    answer = await sandbox.post(
        "/sale", _token_sale(saved["paymentToken"], "mit", _mit(saved["transactionID"]))
    )

    assert answer.json()["responseCode"] == "GTW_1000"
    [listed] = await _tokens(sandbox)
    assert listed["citTransactionIDs"] == [saved["transactionID"]]


async def test_a_customer_initiated_token_sale_gives_consent_to_a_token_from_create_token(
    sandbox: Harness,
) -> None:
    hpf = await _hpf_token(sandbox)
    token = (await sandbox.post("/createToken", _create_token(hpf))).json()["paymentToken"]
    refused = (await sandbox.post("/sale", _token_sale(token, "mit-0", _mit(1001)))).json()
    cit = (await sandbox.post("/sale", _token_sale(token, "cit", CUSTOMER_PRESENT))).json()

    mit = (await sandbox.post("/sale", _token_sale(token, "mit-1", _mit(cit["transactionID"])))).json()

    assert refused["responseCode"] == "GTW_2081"
    assert (cit["responseCode"], mit["responseCode"]) == ("GTW_1000", "GTW_1000")


@pytest.mark.parametrize(
    "marking",
    [
        pytest.param(None, id="unmarked-initial-sale"),
        pytest.param({"requestTransactionType": "ECOMMERCE"}, id="ecommerce-only"),
    ],
)
async def test_a_merchant_initiated_sale_without_a_prior_cit_is_declined(
    sandbox: Harness, marking: dict[str, Any] | None
) -> None:
    saved = await _saved(sandbox, additional_data=marking)

    answer = await sandbox.post(
        "/sale", _token_sale(saved["paymentToken"], "mit", _mit(saved["transactionID"]))
    )

    assert answer.status_code == 200
    body = answer.json()
    assert (body["responseCode"], body["responseCodeType"]) == ("GTW_2081", "SOFT DECLINE")
    assert body["responseMessage"] == "Recurring not allowed as parent transaction not marked for Recurring."
    assert body["authCode"] is None
    await sandbox.drain()
    assert sandbox.receiver.events[-1] == "PURCHASE_FAILED"


async def test_a_merchant_initiated_sale_must_reference_an_approved_cit_of_its_own_token(
    sandbox: Harness,
) -> None:
    saved = await _saved(sandbox)
    other = (await sandbox.sale(clientOrderId="other", additionalData=INITIAL_CIT)).json()
    declined_cit = (
        await sandbox.post(
            "/sale",
            _token_sale(saved["paymentToken"], "cit-declined", CUSTOMER_PRESENT),
            **{"x-sandbox-fault": "decline"},
        )
    ).json()
    assert declined_cit["responseCode"] == "GTW_9999"

    answers = [
        (await sandbox.post("/sale", _token_sale(saved["paymentToken"], f"mit-{n}", _mit(reference)))).json()
        for n, reference in enumerate((other["transactionID"], declined_cit["transactionID"], 999999))
    ]

    assert [answer["responseCode"] for answer in answers] == ["GTW_2081"] * 3


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        pytest.param({"additionalData": _mit(None)}, "GTW_2048", "initialTransactionId", id="no-initial-id"),
        pytest.param(
            {"additionalData": _mit("first")}, "GTW_2063", "initialTransactionId", id="bad-initial-id"
        ),
        pytest.param({"cardSecurityCode": "999"}, "GTW_2063", "cardSecurityCode", id="cvv-on-mit"),
        pytest.param({"paymentType": "CARD"}, "GTW_2063", "paymentType", id="mit-with-card"),
        pytest.param(
            {"additionalData": _mit(1) | {"credentialOnFileTransaction": "CIT"}},
            "GTW_2063",
            "credentialOnFileTransaction",
            id="cit-and-mit",
        ),
        pytest.param(
            {"additionalData": {"recurringScheduleType": "MIT_SOMETIMES"}},
            "GTW_2063",
            "recurringScheduleType",
            id="unknown-schedule",
        ),
        pytest.param({"additionalData": "CIT"}, "GTW_2063", "additionalData", id="not-an-object"),
    ],
)
async def test_stored_credential_fields_nobody_could_process_are_field_errors(
    sandbox: Harness, change: dict[str, Any], code: str, field: str
) -> None:
    saved = await _saved(sandbox)

    response = await sandbox.post(
        "/sale", _token_sale(saved["paymentToken"], "x", _mit(saved["transactionID"])) | change
    )

    assert response.status_code == 400
    [error] = response.json()
    assert error["responseCode"] == code
    assert field in error["responseMessage"]
    assert len(await sandbox.ledger()) == 1


async def test_an_unknown_or_hosted_fields_token_is_no_gateway_token(sandbox: Harness) -> None:
    hpf = await _hpf_token(sandbox)

    unknown = await sandbox.post(
        "/sale", _token_sale("f537d00b-877f-4504-a8ae-f66e8f509609", "u", CUSTOMER_PRESENT)
    )
    hosted = await sandbox.post("/sale", _token_sale(hpf, "h", CUSTOMER_PRESENT))

    for response in (unknown, hosted):
        assert response.status_code == 400
        [error] = response.json()
        assert (error["responseCode"], error["responseCodeType"]) == ("GTW_2034", "SOFT DECLINE")
        assert "paymentToken" in error["responseMessage"]
    assert await sandbox.ledger() == []


async def test_faults_and_latency_apply_to_token_sales(sandbox: Harness) -> None:
    saved = await _saved(sandbox)
    token = saved["paymentToken"]

    declined = await sandbox.post(
        "/sale", _token_sale(token, "d", CUSTOMER_PRESENT), **{"x-sandbox-fault": "decline=BNK_2005"}
    )
    failed = await sandbox.post(
        "/sale", _token_sale(token, "e", CUSTOMER_PRESENT), **{"x-sandbox-fault": "error=503"}
    )
    await sandbox.knobs(latency_ms=30, fault_paths=["/sale"])
    slow = await sandbox.post("/sale", _token_sale(token, "s", _mit(saved["transactionID"])))

    assert declined.json()["responseCode"] == "BNK_2005"
    assert failed.status_code == 503
    assert slow.json()["responseCode"] == "GTW_1000"
    assert [row["clientOrderId"] for row in await sandbox.ledger()] == ["initial", "d", "s"]


# --- a NetValve account that issues no token on sales: `/createToken` after the sale ---------------


@pytest.mark.parametrize("path", ["/sale", "/authorize"])
async def test_with_sales_without_tokens_an_approved_card_payment_answers_no_token(
    sandbox: Harness, path: str
) -> None:
    assert (await sandbox.knobs(sales_without_tokens=True)).status_code == 200
    hpf = await _hpf_token(sandbox)

    answer = (await sandbox.post(path, _hpf_sale(hpf, clientOrderId="no-token"))).json()

    assert answer["responseCode"] == "GTW_1000"
    assert (answer["paymentToken"], answer["paymentTokenType"]) == (None, None)
    assert (answer["cardNumber"], answer["cardExpiryYear"]) == ("401200******5439", "2030")
    assert await _tokens(sandbox) == []


async def test_create_token_after_the_initial_sale_tokenizes_its_card_for_merchant_charges(
    sandbox: Harness,
) -> None:
    await sandbox.knobs(sales_without_tokens=True)
    hpf = await _hpf_token(sandbox)
    sale = (
        await sandbox.post("/sale", _hpf_sale(hpf, clientOrderId="init", additionalData=INITIAL_CIT))
    ).json()

    created = await sandbox.post("/createToken", _create_token(hpf))

    assert created.status_code == 200, created.text
    token = created.json()["paymentToken"]
    assert created.json()["paymentTokenType"] == "GATEWAY_TOKEN"
    [listed] = await _tokens(sandbox)
    assert (listed["paymentToken"], listed["issuedBy"], listed["cardNumber"]) == (
        token,
        "CREATE_TOKEN",
        "401200******5439",
    )
    assert listed["citTransactionIDs"] == [sale["transactionID"]]
    mit = (await sandbox.post("/sale", _token_sale(token, "mit", _mit(sale["transactionID"])))).json()
    assert mit["responseCode"] == "GTW_1000"


async def test_create_token_after_a_declined_or_unmarked_sale(sandbox: Harness) -> None:
    await sandbox.knobs(sales_without_tokens=True)
    declined_hpf = await _hpf_token(sandbox, card="4000000000009995")
    await sandbox.post("/sale", _hpf_sale(declined_hpf, clientOrderId="declined"))
    unmarked_hpf = await _hpf_token(sandbox)
    unmarked = (await sandbox.post("/sale", _hpf_sale(unmarked_hpf, clientOrderId="plain"))).json()

    after_decline = await sandbox.post("/createToken", _create_token(declined_hpf))
    after_unmarked = await sandbox.post("/createToken", _create_token(unmarked_hpf))

    assert after_decline.status_code == 400
    assert "Already Used" in after_decline.json()[0]["responseMessage"]
    assert after_unmarked.status_code == 200, after_unmarked.text
    token = after_unmarked.json()["paymentToken"]
    [listed] = await _tokens(sandbox)
    assert listed["citTransactionIDs"] == []
    refused = (await sandbox.post("/sale", _token_sale(token, "mit", _mit(unmarked["transactionID"])))).json()
    assert refused["responseCode"] == "GTW_2081"
