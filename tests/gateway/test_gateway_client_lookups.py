"""Read-only calls: HPF session, inquiry, transaction, order and the backoffice script list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from app.gateway import NetValveClient, Operation, Outcome, decode_json
from tests.support.gateway import (
    API_KEY,
    BACKOFFICE_URL,
    BO_PASSWORD,
    BO_USER,
    CLIENT_ID,
    JWT,
    PAYMENT_TOKEN,
    PAYMENT_URL,
    FakeClock,
    FakeSleep,
    approved_body,
    declined_body,
    json_response,
)

HPF = f"{PAYMENT_URL}/hpf/initializeSession"
INQUIRY = f"{PAYMENT_URL}/inquiry"
SIGN_IN = f"{BACKOFFICE_URL}/backoffice/users/sign-in"
SCRIPTS = f"{BACKOFFICE_URL}/backoffice/hpf/script"


def hpf_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "traceID": "120d2e14-aaaa-bbbb-cccc-000000000000",
        "responseTimestamp": "2024-12-20T08:37:25.059+00:00",
        "responseCode": "GTW_1003",
        "responseMessage": "Hosted Payment Fields Token Created Successful.",
        "netvalveScriptSrc": (
            "https://tokenfieldsdk.nv.test/index.D-XdwYDH.js?version=D-XdwYDH"
            f"&paymentToken={PAYMENT_TOKEN}&jwtToken={JWT}"
        ),
        "version": "D-XdwYDH",
        "integrity": "a9d74bfb-12d6-422c-a230-fdcc351afc52",
        "paymentToken": PAYMENT_TOKEN,
    }
    body.update(extra)
    return body


class TestInitializeHpfSession:
    async def test_gtw_1003_with_jwt_from_script_url(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.get(HPF).mock(return_value=json_response(200, hpf_body()))

        result = await gateway.initialize_hpf_session()

        request = route.calls.last.request
        assert request.headers["netvalve-client-id"] == CLIENT_ID
        assert request.headers["netvalve-api-key"] == API_KEY
        assert request.content == b""
        assert result.outcome is Outcome.APPROVED
        assert result.code == "GTW_1003"
        assert result.details is not None
        assert result.details.payment_token == PAYMENT_TOKEN
        assert result.details.jwt_token == JWT
        assert result.details.integrity == "a9d74bfb-12d6-422c-a230-fdcc351afc52"
        assert result.details.version == "D-XdwYDH"

    async def test_top_level_jwt(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.get(HPF).mock(return_value=json_response(200, hpf_body(jwtToken="eyJ.top.level")))
        result = await gateway.initialize_hpf_session()
        assert result.details is not None
        assert result.details.jwt_token == "eyJ.top.level"

    async def test_success_code_without_a_script_is_not_a_session(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        router.get(HPF).mock(return_value=json_response(200, {"responseCode": "GTW_1003"}))
        result = await gateway.initialize_hpf_session()
        assert result.outcome is Outcome.UNAVAILABLE
        assert result.details is None

    async def test_502_is_retried(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        route = router.get(HPF).mock(
            side_effect=[
                httpx.Response(502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}),
                json_response(200, hpf_body()),
            ]
        )
        result = await gateway.initialize_hpf_session()
        assert route.call_count == 2
        assert result.outcome is Outcome.APPROVED
        assert result.attempts == 2
        assert sleep.delays == [pytest.approx(0.1)]

    async def test_auth_failure(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        route = router.get(HPF).mock(return_value=json_response(401, {"responseCode": "GTW_9001"}))
        result = await gateway.initialize_hpf_session()
        assert result.outcome is Outcome.AUTH_ERROR
        assert route.call_count == 1


class TestInquiry:
    async def test_parses_and_classifies_the_transaction(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.get(INQUIRY).mock(
            return_value=json_response(200, declined_body("GTW_1002", "PENDING", amount=Decimal("9.99")))
        )
        result = await gateway.inquiry(1001)
        assert route.calls.last.request.url.params["transactionId"] == "1001"
        assert result.outcome is Outcome.PENDING
        assert result.operation is Operation.INQUIRY
        assert result.response is not None
        assert result.response.amount == Decimal("9.99")

    async def test_not_found(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.get(INQUIRY).mock(return_value=json_response(200, declined_body("GTW_2103", "SOFT DECLINE")))
        result = await gateway.inquiry(42)
        assert result.outcome is Outcome.NOT_FOUND

    async def test_read_timeout_is_retried(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        route = router.get(INQUIRY).mock(
            side_effect=[
                httpx.ReadTimeout("slow"),
                httpx.ReadTimeout("slow"),
                json_response(200, approved_body()),
            ]
        )
        result = await gateway.inquiry(1001)
        assert route.call_count == 3
        assert result.outcome is Outcome.APPROVED
        # Full jitter with rng=0.5 over 0.2 * 2**n.
        assert sleep.delays == [pytest.approx(0.1), pytest.approx(0.2)]

    async def test_429_honours_retry_after(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        route = router.get(INQUIRY).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "1.5"}),
                json_response(200, approved_body()),
            ]
        )
        result = await gateway.inquiry(1001)
        assert route.call_count == 2
        assert sleep.delays == [1.5]
        assert result.outcome is Outcome.APPROVED
        assert result.retry_after is None

    async def test_retry_after_beyond_the_cap_is_left_to_the_caller(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        route = router.get(INQUIRY).mock(return_value=httpx.Response(429, headers={"Retry-After": "120"}))
        result = await gateway.inquiry(1001)
        assert route.call_count == 1
        assert sleep.delays == []
        assert result.outcome is Outcome.RATE_LIMITED
        assert result.retry_after == 120.0

    async def test_retry_after_as_http_date(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        when = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
        router.get(INQUIRY).mock(return_value=httpx.Response(503, headers={"Retry-After": when}))
        result = await gateway.inquiry(1001)
        assert sleep.delays == []
        assert result.retry_after is not None
        assert 3500 < result.retry_after <= 3600

    async def test_exhausted_retries(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        route = router.get(INQUIRY).mock(return_value=httpx.Response(503, content=b""))
        result = await gateway.inquiry(1001)
        assert route.call_count == 3
        assert result.attempts == 3
        assert result.outcome is Outcome.UNAVAILABLE
        assert result.http_status == 503
        assert sleep.delays == [pytest.approx(0.1), pytest.approx(0.2)]

    async def test_backoff_is_capped(
        self, make_gateway: Callable[..., NetValveClient], router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        gateway = make_gateway(netvalve_max_retries=5, netvalve_circuit_failure_threshold=10)
        router.get(INQUIRY).mock(return_value=httpx.Response(500))
        await gateway.inquiry(1001)
        # 0.5 * min(2.0, 0.2 * 2**n) for n = 0..4
        assert sleep.delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])


class TestGetTransaction:
    async def test_parses_details(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        route = router.get(f"{PAYMENT_URL}/transaction").mock(
            return_value=httpx.Response(
                200,
                content=(
                    b'{"netvalveID":1001,"status":"Authorised","amount":20.00,"currency":"EUR",'
                    b'"clientOrderId":"cart_1","transactionType":"AUTHORIZATION","refundBalancedAmount":0.00,'
                    b'"allowedActions":["CAPTURE","CANCEL"],"responseCode":"GTW_1000","transactions":[]}'
                ),
                headers={"content-type": "application/json"},
            )
        )
        result = await gateway.get_transaction(1001)
        assert route.calls.last.request.url.params["id"] == "1001"
        assert result.outcome is Outcome.APPROVED
        assert result.details is not None
        assert result.details.status == "Authorised"
        assert result.details.amount == Decimal("20.00")
        assert result.details.allowed_actions == ["CAPTURE", "CANCEL"]

    async def test_found_even_when_the_transaction_was_declined(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        router.get(f"{PAYMENT_URL}/transaction").mock(
            return_value=json_response(
                200, {"netvalveID": 7, "responseCode": "BNK_2011", "responseCodeType": "SOFT DECLINE"}
            )
        )
        result = await gateway.get_transaction(7)
        assert result.outcome is Outcome.APPROVED
        assert result.details is not None
        assert result.details.outcome is Outcome.SOFT_DECLINE

    @pytest.mark.parametrize(
        "answer",
        [
            json_response(200, {"responseCode": "GTW_2103", "responseCodeType": "SOFT DECLINE"}),
            json_response(404, {"responseCode": "GTW_2103"}),
            json_response(200, {"netvalveID": None, "responseCode": "GTW_2103"}),
            httpx.Response(404, json={"error": "Not Found"}),
        ],
    )
    async def test_not_found(
        self, gateway: NetValveClient, router: respx.MockRouter, answer: httpx.Response
    ) -> None:
        route = router.get(f"{PAYMENT_URL}/transaction").mock(return_value=answer)
        result = await gateway.get_transaction(999)
        assert result.outcome is Outcome.NOT_FOUND
        assert result.details is None
        assert route.call_count == 1


class TestGetOrder:
    async def test_parses_order_and_transactions(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.get(f"{PAYMENT_URL}/order").mock(
            return_value=httpx.Response(
                200,
                content=(
                    b'{"id":77,"clientOrderId":"cart_1","orderAmount":43.10,"currency":"EUR","orderState":"PAID",'
                    b'"transactions":[{"transactionID":1001,"transactionType":"SALE","amount":43.10,'
                    b'"responseCode":"GTW_1000","responseCodeType":"APPROVED","status":"Settled"}]}'
                ),
            )
        )
        result = await gateway.get_order("cart_1")
        assert route.calls.last.request.url.params["clientOrderId"] == "cart_1"
        assert result.outcome is Outcome.APPROVED
        assert result.details is not None
        assert result.details.order_amount == Decimal("43.10")
        assert result.details.state == "PAID"
        payment = result.details.approved_payment()
        assert payment is not None
        assert payment.transaction_id == 1001

    async def test_not_found(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.get(f"{PAYMENT_URL}/order").mock(return_value=json_response(200, {"responseCode": "GTW_2103"}))
        result = await gateway.get_order("nope")
        assert result.outcome is Outcome.NOT_FOUND


def scripts_body() -> list[dict[str, Any]]:
    return [
        {
            "id": "s1",
            "netvalveScriptSrc": "https://tokenfield.nv.test/sdk/old.js",
            "integrity": "sha384-old",
            "status": "ACTIVE",
            "deleted": False,
            "isDefault": False,
            "createdDate": "2025-01-01T00:00:00",
        },
        {
            "id": "s2",
            "netvalveScriptSrc": "https://tokenfield.nv.test/sdk/new.js",
            "integrity": "sha384-new",
            "status": "ACTIVE",
            "deleted": False,
            "isDefault": False,
            "createdDate": "2025-06-01T00:00:00",
        },
        {"id": "broken", "deleted": "not-a-bool"},
    ]


class TestBackofficeScripts:
    async def test_signs_in_once_and_reuses_the_token(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        sign_in = router.post(SIGN_IN).mock(
            return_value=json_response(200, {"accessToken": "bo-token-1", "expiresIn": 3600})
        )
        scripts = router.get(SCRIPTS).mock(return_value=json_response(200, scripts_body()))

        first = await gateway.backoffice_hpf_scripts()
        second = await gateway.backoffice_hpf_scripts()

        assert sign_in.call_count == 1
        assert decode_json(sign_in.calls.last.request.content) == {
            "userName": BO_USER,
            "password": BO_PASSWORD,
            "checkForBot": "net",
        }
        assert scripts.call_count == 2
        assert all(call.request.headers["authorization"] == "Bearer bo-token-1" for call in scripts.calls)
        assert first.outcome is Outcome.APPROVED
        assert second.details is not None
        assert [s.id for s in second.details] == ["s1", "s2"]
        chosen = gateway.pick_active_script(second.details)
        assert chosen is not None
        assert chosen.id == "s2"

    async def test_refreshes_five_minutes_before_expiry(
        self, gateway: NetValveClient, router: respx.MockRouter, clock: FakeClock
    ) -> None:
        sign_in = router.post(SIGN_IN).mock(
            side_effect=[
                json_response(200, {"accessToken": "bo-token-1", "expiresIn": 3600}),
                json_response(200, {"accessToken": "bo-token-2"}),
            ]
        )
        scripts = router.get(SCRIPTS).mock(return_value=json_response(200, {"data": scripts_body()}))

        await gateway.backoffice_hpf_scripts()
        clock.advance(3600 - 300 - 1)
        await gateway.backoffice_hpf_scripts()
        assert sign_in.call_count == 1
        clock.advance(2)
        await gateway.backoffice_hpf_scripts()

        assert sign_in.call_count == 2
        assert scripts.calls.last.request.headers["authorization"] == "Bearer bo-token-2"
        # expiresIn missing: 3600 s assumed.
        clock.advance(3600 - 300 - 1)
        await gateway.backoffice_hpf_scripts()
        assert sign_in.call_count == 2

    async def test_revoked_token_is_replaced_once(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        sign_in = router.post(SIGN_IN).mock(
            side_effect=[
                json_response(200, {"accessToken": "bo-token-1", "expiresIn": 3600}),
                json_response(200, {"accessToken": "bo-token-2", "expiresIn": 3600}),
            ]
        )
        scripts = router.get(SCRIPTS).mock(
            side_effect=[
                json_response(200, scripts_body()),
                httpx.Response(401),
                json_response(200, scripts_body()),
            ]
        )
        await gateway.backoffice_hpf_scripts()
        result = await gateway.backoffice_hpf_scripts()
        assert result.outcome is Outcome.APPROVED
        assert sign_in.call_count == 2
        assert scripts.calls.last.request.headers["authorization"] == "Bearer bo-token-2"

    async def test_sign_in_refused(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.post(SIGN_IN).mock(return_value=httpx.Response(401, json={"message": "bad credentials"}))
        scripts = router.get(SCRIPTS).mock(return_value=json_response(200, scripts_body()))
        result = await gateway.backoffice_hpf_scripts()
        assert result.outcome is Outcome.AUTH_ERROR
        assert result.operation is Operation.BACKOFFICE_HPF_SCRIPTS
        assert result.message is not None
        assert result.message.startswith("backoffice sign-in failed")
        assert scripts.call_count == 0

    async def test_missing_credentials(
        self, make_gateway: Callable[..., NetValveClient], router: respx.MockRouter
    ) -> None:
        sign_in = router.post(SIGN_IN).mock(return_value=json_response(200, {"accessToken": "x"}))
        gateway = make_gateway(netvalve_basic_auth_password=None)
        result = await gateway.backoffice_hpf_scripts()
        assert sign_in.call_count == 0
        assert result.outcome is Outcome.AUTH_ERROR
        assert result.request_sent is False
