"""3-D Secure v2 on the wire: request bodies as NetValve names them, the sale's ``3DS`` object, and what
each answer means for the payment (``threeds_step``), against a respx NetValve."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from app.gateway import (
    Browser,
    NetValveClient,
    Routing,
    RoutingKind,
    Sale,
    Shopper,
    ThreeDSAuthRequest,
    ThreeDSData,
    ThreeDSInitRequest,
    ThreeDSKind,
    ThreeDSResultRequest,
    UnsendableRequest,
    decode_json,
    requests,
    threeds_step,
)
from tests.support.gateway import EUR_MID, PAYMENT_TOKEN, PAYMENT_URL, json_response, sale_request

CAVV = "AAABBEg0VhI0VniQEjRWAAAAAAA="
INIT = f"{PAYMENT_URL}/3ds/v2/initialization"
BROWSER = Browser("Mozilla/5.0", "text/html", "en-GB", 24, 1080, 1920, -60, java_enabled=False)


def init_request(**overrides: Any) -> ThreeDSInitRequest:
    values: dict[str, Any] = {
        "amount": Decimal("30.00"),
        "currency": "EUR",
        "payment_token": PAYMENT_TOKEN,
        "netvalve_mid_id": EUR_MID,
        "customer_ip": "203.0.113.7",
        "customer_email": "shopper@example.com",
        "customer_phone": "+441234567890",
        "user_agent": "Mozilla/5.0",
        "browser_header": "text/html",
        "browser_java_enabled": False,
        "browser_language": "en-GB",
        "browser_color_depth": 24,
        "browser_screen_height": 1080,
        "browser_screen_width": 1920,
        "browser_time_zone": -60,
    }
    values.update(overrides)
    return ThreeDSInitRequest(**values)


def answer(
    provider: dict[str, Any] | None, code: str = "3DS_1000", code_type: str = "APPROVED"
) -> httpx.Response:
    body: dict[str, Any] = {"traceID": "t", "responseCode": code, "responseCodeType": code_type}
    if provider is not None:
        body["threeDSProviderResponse"] = provider
    return json_response(200, body)


def test_init_body_uses_netvalves_field_names() -> None:
    body = decode_json(init_request(merchant_redirect_url="https://shop.test/back").to_wire())
    assert body == {
        "amount": Decimal("30.00"),
        "currency": "EUR",
        "paymentToken": PAYMENT_TOKEN,
        "netvalveMidId": EUR_MID,
        "customerIp": "203.0.113.7",
        "customerEmail": "shopper@example.com",
        "customerPhone": "+441234567890",
        "merchantRedirectUrl": "https://shop.test/back",
        "userAgent": "Mozilla/5.0",
        "browserHeader": "text/html",
        "browserJavaEnabled": False,
        "browserLanguage": "en-GB",
        "browserColorDepth": 24,
        "browserScreenHeight": 1080,
        "browserScreenWidth": 1920,
        "browserTimeZone": -60,
    }
    assert PAYMENT_TOKEN not in repr(init_request())


def test_auth_and_result_bodies_name_the_transaction_trans_id() -> None:
    assert decode_json(ThreeDSResultRequest(trans_id="t-1", netvalve_mid_id=EUR_MID).to_wire()) == {
        "transID": "t-1",
        "netvalveMidId": EUR_MID,
    }
    auth = decode_json(auth_request().to_wire())
    assert auth == {
        "transID": "t-1",
        "siteId": "s",
        "customerIp": "203.0.113.7",
        "amount": Decimal("29.74"),
        "currency": "EUR",
        "customerName": "Ada",
        "customerLastName": "Lovelace",
        "customerCountryCode": "IE",
    }


def auth_request(**overrides: Any) -> ThreeDSAuthRequest:
    values: dict[str, Any] = {
        "trans_id": "t-1",
        "site_id": "s",
        "customer_ip": "203.0.113.7",
        "amount": Decimal("29.74"),
        "currency": "eur",
        "customer_name": "Ada",
        "customer_last_name": "Lovelace",
        "customer_country_code": "ie",
    }
    return ThreeDSAuthRequest(**(values | overrides))


@pytest.mark.parametrize(
    "missing", ["amount", "currency", "customer_name", "customer_last_name", "customer_country_code"]
)
def test_auth_request_needs_what_netvalves_guide_marks_required(missing: str) -> None:
    assert auth_request().currency == "EUR"
    with pytest.raises(ValidationError):
        auth_request(**{missing: None})


def test_card_holder_name_is_sent_when_known() -> None:
    with_holder = decode_json(init_request(card_holder_name="Grace Hopper").to_wire())
    assert with_holder["cardHolderName"] == "Grace Hopper"
    assert "cardHolderName" not in decode_json(init_request().to_wire())
    # NetValve takes at most 128 characters: a longer billing name is cut, never refused.
    assert len(decode_json(init_request(card_holder_name="A" * 200).to_wire())["cardHolderName"]) == 128


def test_auth_body_is_built_from_the_sale_and_its_shopper() -> None:
    shopper = Shopper(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        province="A province name longer than thirty characters",
        country_code="ie",
        ip="203.0.113.7",
        card_holder="Ada King",
    )
    sale = Sale(
        amount=Decimal("29.74"),
        currency="EUR",
        routing=Routing(RoutingKind.NETVALVE_MID, EUR_MID),
        description="Cart cart_1",
        shopper=shopper,
        payment_token=PAYMENT_TOKEN,
    )
    body = decode_json(requests.threeds_authentication(sale, "t-1").to_wire())
    assert body == {
        "transID": "t-1",
        "netvalveMidId": EUR_MID,
        "amount": Decimal("29.74"),
        "currency": "EUR",
        "customerName": "Ada",
        "customerLastName": "Lovelace",
        "customerCountryCode": "IE",
        "customerState": "A province name longer than th",
        "customerEmail": "ada@example.com",
        "customerIp": "203.0.113.7",
        "cardHolderName": "Ada King",
    }
    init = decode_json(requests.threeds_initialization(sale, BROWSER, None).to_wire())
    assert init["cardHolderName"] == "Ada King"
    nameless = replace(sale, shopper=replace(shopper, last_name=None, country_code=None, card_holder=None))
    assert "cardHolderName" not in decode_json(
        requests.threeds_initialization(nameless, BROWSER, None).to_wire()
    )
    with pytest.raises(UnsendableRequest) as refused:
        requests.check_threeds_authentication(nameless)
    assert refused.value.fields == ["customerCountryCode", "customerLastName"]


def test_sale_carries_the_3ds_object_only_when_authenticated() -> None:
    assert "3DS" not in decode_json(sale_request().to_wire())
    proof = ThreeDSData(ds_transaction_id="ds-1", eci="05", cavv=CAVV, version="2.2.0")
    sale = sale_request(three_ds=proof)
    assert decode_json(sale.to_wire())["3DS"] == {
        "dsTransactionId": "ds-1",
        "eci": "05",
        "cavv": CAVV,
        "version": "2.2.0",
    }
    # The proof is kept out of log text like the payment token.
    assert CAVV in sale.secret_values()
    assert CAVV not in repr(sale)


async def test_frictionless_answer_is_authenticated_with_its_proof(
    gateway: NetValveClient, router: respx.MockRouter
) -> None:
    router.post(INIT).mock(
        return_value=answer(
            {
                "transID": "t-1",
                "threeDs2TransactionId": "ds-1",
                "eci": "05",
                "cavv": CAVV,
                "status": "AUTHENTICATED",
                "threeDsVersion": "2.2.0",
            }
        )
    )
    step = threeds_step(await gateway.threeds_initialize(init_request()))
    assert (step.kind, step.transaction_id) == (ThreeDSKind.AUTHENTICATED, "t-1")
    assert step.proof == ThreeDSData(ds_transaction_id="ds-1", eci="05", cavv=CAVV, version="2.2.0")


async def test_challenge_and_device_data_answers_carry_the_url(
    gateway: NetValveClient, router: respx.MockRouter
) -> None:
    route = router.post(INIT)
    route.side_effect = [
        answer(
            {
                "transID": "t-1",
                "status": "ACS_REQUIRED",
                "challengeRequired": True,
                "redirectUrl": "https://acs/c",
            }
        ),
        answer({"transID": "t-2", "status": "INITIALIZED", "redirectUrl": "https://acs/d"}),
    ]
    challenge = threeds_step(await gateway.threeds_initialize(init_request()))
    device = threeds_step(await gateway.threeds_initialize(init_request()))
    assert (challenge.kind, challenge.url) == (ThreeDSKind.CHALLENGE, "https://acs/c")
    assert (device.kind, device.url) == (ThreeDSKind.DEVICE_DATA, "https://acs/d")


async def test_failures_keep_netvalves_code(gateway: NetValveClient, router: respx.MockRouter) -> None:
    route = router.post(f"{PAYMENT_URL}/3ds/result")
    route.side_effect = [
        answer({"transID": "t-1", "status": "RESULT_FAILED", "errorCode": "3DS_2005"}),
        answer(None, code="3DS_2009", code_type="SOFT DECLINE"),
        answer({"transID": "t-1", "status": "COMPLETED"}),
    ]
    request = ThreeDSResultRequest(trans_id="t-1", netvalve_mid_id=EUR_MID)
    failed = threeds_step(await gateway.threeds_result(request))
    provider_error = threeds_step(await gateway.threeds_result(request))
    no_proof = threeds_step(await gateway.threeds_result(request))
    assert (failed.kind, failed.code) == (ThreeDSKind.FAILED, "3DS_2005")
    assert (provider_error.kind, provider_error.code) == (ThreeDSKind.FAILED, "3DS_2009")
    # "Completed" without eci and cavv cannot be sent as an authentication.
    assert no_proof.kind is ThreeDSKind.FAILED


async def test_acs_not_completed_waits_unless_the_status_is_final(
    gateway: NetValveClient, router: respx.MockRouter
) -> None:
    not_completed = "3DS ACS not completed by user or authentication attempted."
    route = router.post(f"{PAYMENT_URL}/3ds/result")
    route.side_effect = [
        json_response(
            200,
            {
                "responseCode": "3DS_2011",
                "responseMessage": not_completed,
                "threeDSProviderResponse": {
                    "transID": "t-1",
                    "status": "ACS_REQUIRED",
                    "challengeRequired": True,
                },
            },
        ),
        json_response(
            200,
            {
                "responseCode": "3DS_2011",
                "responseMessage": not_completed,
                "threeDSProviderResponse": {"transID": "t-1", "status": "RESULT_FAILED"},
            },
        ),
        # Read as a decline and without a status: nothing says the authentication is over.
        answer(None, code="3DS_2011", code_type="SOFT DECLINE"),
    ]
    request = ThreeDSResultRequest(trans_id="t-1", netvalve_mid_id=EUR_MID)
    waiting = threeds_step(await gateway.threeds_result(request))
    final = threeds_step(await gateway.threeds_result(request))
    unread = threeds_step(await gateway.threeds_result(request))
    assert (waiting.kind, waiting.code, waiting.transaction_id) == (ThreeDSKind.WAITING, "3DS_2011", "t-1")
    assert (final.kind, final.code) == (ThreeDSKind.FAILED, "RESULT_FAILED")
    assert (unread.kind, unread.code) == (ThreeDSKind.WAITING, "3DS_2011")


async def test_no_usable_answer_is_unanswered_and_retried_like_a_look_up(
    make_gateway: Any, router: respx.MockRouter
) -> None:
    route = router.post(INIT).mock(return_value=httpx.Response(502, text="<html>bad gateway</html>"))
    result = await make_gateway(netvalve_max_retries=2).threeds_initialize(init_request())
    assert threeds_step(result).kind is ThreeDSKind.UNANSWERED
    assert result.request_sent
    # No money moves on a 3DS call, so it is retried where a sale would never be re-sent.
    assert route.call_count == 3
