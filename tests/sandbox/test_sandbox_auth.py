from __future__ import annotations

import base64

import pytest

from tests.support.sandbox import AUTH, Harness, MakeHarness, card_body, encode


async def test_missing_credentials_are_an_authentication_failure(sandbox: Harness) -> None:
    response = await sandbox.client.post("/sale", content=encode(card_body()))

    assert response.status_code == 401
    body = response.json()
    assert body["responseCode"] == "GTW_9001"
    assert body["responseMessage"].startswith("Authentication failure!")
    assert body["responseCodeType"] == "HARD DECLINE"
    assert body["traceID"]
    assert await sandbox.ledger() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"netvalve-client-id": "sandbox-client", "netvalve-api-key": "wrong"},
        {"netvalve-client-id": "sandbox-client"},
        {"netvalve-api-key": "sandbox-api-key"},
    ],
)
async def test_wrong_or_partial_api_key_headers_are_rejected(
    sandbox: Harness, headers: dict[str, str]
) -> None:
    response = await sandbox.client.get("/hpf/initializeSession", headers=headers)

    assert response.status_code == 401
    assert response.json()["responseCode"] == "GTW_9001"


async def test_unknown_client_id_is_invalid_client(sandbox: Harness) -> None:
    headers = {"netvalve-client-id": "someone-else", "netvalve-api-key": "sandbox-api-key"}

    response = await sandbox.client.get("/inquiry", params={"transactionId": 1}, headers=headers)

    assert response.status_code == 401
    assert response.json()["responseCode"] == "GTW_2082"
    assert response.json()["responseMessage"].startswith("Invalid Client ID")


async def test_basic_auth_is_accepted_when_configured(make_harness: MakeHarness) -> None:
    harness = await make_harness(basic_auth_user="merchant", basic_auth_password="s3cret")
    good = base64.b64encode(b"merchant:s3cret").decode()
    bad = base64.b64encode(b"merchant:guess").decode()

    accepted = await harness.client.post(
        "/sale", content=encode(card_body()), headers={"authorization": f"Basic {good}"}
    )
    rejected = await harness.client.post(
        "/sale", content=encode(card_body()), headers={"authorization": f"Basic {bad}"}
    )

    assert accepted.status_code == 200
    assert accepted.json()["responseCode"] == "GTW_1000"
    assert rejected.status_code == 401
    assert rejected.json()["responseCode"] == "GTW_9001"


async def test_api_key_still_works_next_to_basic_auth(make_harness: MakeHarness) -> None:
    harness = await make_harness(basic_auth_user="merchant", basic_auth_password="s3cret")

    response = await harness.client.get("/hpf/initializeSession", headers=AUTH)

    assert response.status_code == 200
    assert response.json()["responseCode"] == "GTW_1003"


async def test_sandbox_control_endpoints_need_no_credentials(sandbox: Harness) -> None:
    assert (await sandbox.client.get("/_sandbox/health")).json() == {"status": "ok"}
    assert (await sandbox.client.get("/_sandbox/transactions")).status_code == 200
