"""Mutating calls: sale, authorize, capture, refund, cancel and HPP order against a respx NetValve."""

from __future__ import annotations

import base64
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
import respx

from app.gateway import (
    CancelBody,
    CaptureBody,
    CaptureOptions,
    HppOrderRequest,
    MerchantNotConfigured,
    NetValveClient,
    Operation,
    Outcome,
    RefundBody,
    Routing,
    RoutingKind,
    SaleRequest,
    decode_json,
    routing_for,
)
from tests.support.gateway import (
    API_KEY,
    BO_PASSWORD,
    BO_USER,
    CLIENT_ID,
    EUR_MID,
    HPP_URL,
    PAYMENT_TOKEN,
    PAYMENT_URL,
    SITE_ID,
    FakeSleep,
    approved_body,
    declined_body,
    json_response,
    make_settings,
    sale_request,
)

SALE = f"{PAYMENT_URL}/sale"


def assert_api_key_headers(request: httpx.Request) -> None:
    assert request.headers["netvalve-client-id"] == CLIENT_ID
    assert request.headers["netvalve-api-key"] == API_KEY
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers


class TestSale:
    async def test_approved_sends_exact_bytes_and_headers(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(SALE).mock(
            return_value=json_response(200, approved_body(amount=Decimal("12.50")))
        )

        result = await gateway.sale(sale_request(amount=Decimal("1234567.89")))

        assert route.call_count == 1
        request = route.calls.last.request
        assert request.content == (
            b'{"amount":1234567.89,"currency":"EUR","paymentType":"CARD",'
            b'"paymentToken":"' + PAYMENT_TOKEN.encode() + b'",'
            b'"netvalveMidId":"' + EUR_MID.encode() + b'",'
            b'"clientOrderId":"cart_01JABC_1732594189657"}'
        )
        assert_api_key_headers(request)
        # The echoed 12.50 differs from the 1234567.89 sent, which must not pass as success.
        assert result.outcome is Outcome.MISMATCH

    async def test_approved(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.post(SALE).mock(
            return_value=json_response(200, approved_body(amount=Decimal("12.50"), currency="EUR"))
        )

        result = await gateway.sale(sale_request())

        assert result.outcome is Outcome.APPROVED
        assert result.ok
        assert result.operation is Operation.SALE
        assert result.http_status == 200
        assert result.code == "GTW_1000"
        assert result.transaction_id == 1001
        assert result.response is not None
        assert result.response.card_number == "401200******5439"
        assert result.request_sent is True
        assert result.attempts == 1
        assert not result.is_uncertain

    async def test_site_id_routing_sends_only_site_id(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(SALE).mock(return_value=json_response(200, approved_body()))
        routing = routing_for(make_settings(), "USD")
        assert routing == Routing(RoutingKind.SITE, SITE_ID)

        await gateway.sale(
            SaleRequest(
                amount=1, currency="USD", payment_type="CARD", payment_token="t", **routing.model_fields()
            )
        )

        sent = decode_json(route.calls.last.request.content)
        assert sent["siteId"] == SITE_ID
        assert "netvalveMidId" not in sent
        assert "midId" not in sent

    async def test_mid_routing_sends_only_the_mid(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(SALE).mock(return_value=json_response(200, approved_body()))
        routing = routing_for(make_settings(), "eur")
        assert routing == Routing(RoutingKind.NETVALVE_MID, EUR_MID)

        await gateway.sale(
            SaleRequest(
                amount=1, currency="EUR", payment_type="CARD", payment_token="t", **routing.model_fields()
            )
        )

        sent = decode_json(route.calls.last.request.content)
        assert sent["netvalveMidId"] == EUR_MID
        assert "siteId" not in sent
        assert "midId" not in sent

    async def test_basic_auth_replaces_the_api_key(
        self, make_gateway: Callable[..., NetValveClient], router: respx.MockRouter
    ) -> None:
        route = router.post(SALE).mock(return_value=json_response(200, approved_body()))
        gateway = make_gateway(netvalve_payment_auth="basic")

        await gateway.sale(sale_request())

        headers = route.calls.last.request.headers
        expected = base64.b64encode(f"{BO_USER}:{BO_PASSWORD}".encode()).decode()
        assert headers["authorization"] == f"Basic {expected}"
        assert headers["netvalve-client-id"] == CLIENT_ID
        assert "netvalve-api-key" not in headers

    async def test_missing_credentials_send_nothing(
        self, make_gateway: Callable[..., NetValveClient], router: respx.MockRouter
    ) -> None:
        route = router.post(SALE).mock(return_value=json_response(200, approved_body()))
        gateway = make_gateway(netvalve_api_key=None)

        result = await gateway.sale(sale_request())

        assert route.call_count == 0
        assert result.outcome is Outcome.AUTH_ERROR
        assert result.request_sent is False
        assert result.message is not None
        assert "NETVALVE_API_KEY" in result.message

    async def test_pending(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.post(SALE).mock(
            return_value=json_response(200, declined_body("GTW_1002", "PENDING", "Pending"))
        )
        result = await gateway.sale(sale_request())
        assert result.outcome is Outcome.PENDING
        assert result.transaction_id == 1001

    @pytest.mark.parametrize(
        ("code", "code_type", "outcome"),
        [
            ("BNK_2011", "SOFT DECLINE", Outcome.SOFT_DECLINE),
            ("BNK_2005", "HARD DECLINE", Outcome.HARD_DECLINE),
            ("BNK_3004", "HARD DECLINE", Outcome.HARD_DECLINE),
            ("BNK_2000", "SOFT DECLINE", Outcome.SOFT_DECLINE),
            ("BNK_2000", "APPROVED", Outcome.SOFT_DECLINE),
            ("GTW_2065", "SOFT DECLINE", Outcome.DUPLICATE_ORDER),
            ("GTW_2070", "SOFT DECLINE", Outcome.DUPLICATE_ORDER),
            ("GTW_2082", "SOFT DECLINE", Outcome.AUTH_ERROR),
        ],
    )
    async def test_declines_and_rejections(
        self, gateway: NetValveClient, router: respx.MockRouter, code: str, code_type: str, outcome: Outcome
    ) -> None:
        route = router.post(SALE).mock(return_value=json_response(200, declined_body(code, code_type)))
        result = await gateway.sale(sale_request())
        assert result.outcome is outcome
        assert result.code == code
        assert not result.ok
        assert route.call_count == 1

    async def test_validation_array_body(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        body = [
            {
                "responseCode": "GTW_2034",
                "responseMessage": "Validation error for field = cardNumber  Message:- Card Number Invalid.",
                "responseCodeType": "SOFT DECLINE",
            }
        ]
        router.post(SALE).mock(return_value=json_response(400, body))
        result = await gateway.sale(sale_request())
        assert result.outcome is Outcome.VALIDATION_ERROR
        assert result.code == "GTW_2034"
        assert result.http_status == 400
        assert result.response is None

    async def test_401_authentication_failure(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        router.post(SALE).mock(
            return_value=json_response(
                401, {"responseCode": "GTW_9001", "responseMessage": "Authentication failure!"}
            )
        )
        result = await gateway.sale(sale_request())
        assert result.outcome is Outcome.AUTH_ERROR
        assert result.code == "GTW_9001"
        assert result.http_status == 401

    async def test_429_is_not_retried(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        route = router.post(SALE).mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}))
        result = await gateway.sale(sale_request())
        assert route.call_count == 1
        assert sleep.delays == []
        assert result.outcome is Outcome.RATE_LIMITED
        assert result.retry_after == 1.0

    @pytest.mark.parametrize(
        "answer",
        [
            httpx.Response(
                502, text="<html><body>502 Bad Gateway</body></html>", headers={"content-type": "text/html"}
            ),
            httpx.Response(200, content=b""),
            httpx.Response(
                200, content=b'{"responseCode":"GTW_1000",', headers={"content-type": "application/json"}
            ),
            httpx.Response(
                200, text="Service temporarily unavailable", headers={"content-type": "text/plain"}
            ),
            httpx.Response(200, text="<html>maintenance</html>", headers={"content-type": "text/html"}),
            httpx.Response(503, json={"responseCode": "GTW_1000", "responseCodeType": "APPROVED"}),
        ],
        ids=["html-502", "empty", "malformed-json", "plain-text", "html-200", "503-json"],
    )
    async def test_unusable_answers_are_unavailable_and_not_resent(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep, answer: httpx.Response
    ) -> None:
        route = router.post(SALE).mock(return_value=answer)
        result = await gateway.sale(sale_request())
        assert route.call_count == 1
        assert sleep.delays == []
        assert result.outcome is Outcome.UNAVAILABLE
        assert result.request_sent is True
        assert result.is_uncertain

    @pytest.mark.parametrize(
        "error", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError]
    )
    async def test_lost_answer_is_unknown_and_never_resent(
        self,
        gateway: NetValveClient,
        router: respx.MockRouter,
        sleep: FakeSleep,
        error: type[httpx.TransportError],
    ) -> None:
        route = router.post(SALE).mock(side_effect=error)
        result = await gateway.sale(sale_request())
        assert route.call_count == 1
        assert sleep.delays == []
        assert result.outcome is Outcome.UNKNOWN
        assert result.request_sent is True
        assert result.is_uncertain
        assert result.http_status is None

    async def test_connect_error_before_sending_is_retried(
        self, gateway: NetValveClient, router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        route = router.post(SALE).mock(
            side_effect=[httpx.ConnectError("refused"), json_response(200, approved_body())]
        )
        result = await gateway.sale(sale_request())
        assert route.call_count == 2
        assert result.outcome is Outcome.APPROVED
        assert result.attempts == 2
        assert sleep.delays == [pytest.approx(0.1)]

    @pytest.mark.parametrize(
        ("echo", "fragment"),
        [
            ({"amount": Decimal("125.00"), "currency": "EUR"}, "amount 125.00"),
            ({"amount": Decimal("12.50"), "currency": "USD"}, "currency USD"),
        ],
    )
    async def test_echo_mismatch_is_not_success(
        self, gateway: NetValveClient, router: respx.MockRouter, echo: dict[str, object], fragment: str
    ) -> None:
        router.post(SALE).mock(return_value=json_response(200, approved_body(**echo)))
        result = await gateway.sale(sale_request(amount=Decimal("12.50"), currency="EUR"))
        assert result.outcome is Outcome.MISMATCH
        assert not result.ok
        assert result.message is not None
        assert fragment in result.message

    async def test_echo_with_other_scale_matches(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        router.post(SALE).mock(
            return_value=httpx.Response(200, content=b'{"responseCode":"GTW_1000","amount":12.5}')
        )
        result = await gateway.sale(sale_request(amount=Decimal("12.50")))
        assert result.outcome is Outcome.APPROVED

    async def test_approved_but_unreadable_is_unknown(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        router.post(SALE).mock(return_value=json_response(200, approved_body(transactionID="not-a-number")))
        result = await gateway.sale(sale_request())
        assert result.outcome is Outcome.UNKNOWN
        assert result.is_uncertain


class TestAuthorize:
    async def test_approved_goes_to_authorize(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(f"{PAYMENT_URL}/authorize").mock(
            return_value=json_response(200, approved_body(transactionType="AUTHORIZATION"))
        )
        result = await gateway.authorize(sale_request(amount=Decimal("0.01")))
        assert result.outcome is Outcome.APPROVED
        assert result.operation is Operation.AUTHORIZE
        assert result.response is not None
        assert result.response.transaction_type == "AUTHORIZATION"
        assert b'"amount":0.01,' in route.calls.last.request.content
        assert_api_key_headers(route.calls.last.request)

    async def test_soft_decline(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.post(f"{PAYMENT_URL}/authorize").mock(
            return_value=json_response(200, declined_body("BNK_2011", "SOFT DECLINE", "Insufficient Funds"))
        )
        result = await gateway.authorize(sale_request())
        assert result.outcome is Outcome.SOFT_DECLINE
        assert result.message == "Insufficient Funds"


class TestCapture:
    async def test_final_capture_body(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        route = router.post(f"{PAYMENT_URL}/capture").mock(
            return_value=json_response(200, approved_body(transactionID=1002, transactionType="CAPTURE"))
        )
        req = CaptureBody(
            transaction_id=1001, amount=Decimal("12.5"), capture_options=CaptureOptions(final_capture=True)
        )
        result = await gateway.capture(req)
        assert route.calls.last.request.content == (
            b'{"transactionID":1001,"amount":12.50,"captureOptions":{"finalCapture":true}}'
        )
        assert result.outcome is Outcome.APPROVED
        assert result.transaction_id == 1002

    @pytest.mark.parametrize(
        ("code", "outcome"),
        [
            ("GTW_2046", Outcome.ALREADY_CAPTURED),
            ("GTW_2124", Outcome.VALIDATION_ERROR),
            ("GTW_2123", Outcome.VALIDATION_ERROR),
            ("GTW_2103", Outcome.NOT_FOUND),
        ],
    )
    async def test_rejections(
        self, gateway: NetValveClient, router: respx.MockRouter, code: str, outcome: Outcome
    ) -> None:
        router.post(f"{PAYMENT_URL}/capture").mock(
            return_value=json_response(200, declined_body(code, "SOFT DECLINE"))
        )
        result = await gateway.capture(CaptureBody(transaction_id=1001, amount=Decimal("5.00")))
        assert result.outcome is outcome
        assert result.code == code

    async def test_captured_amount_mismatch(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.post(f"{PAYMENT_URL}/capture").mock(
            return_value=json_response(200, approved_body(amount=Decimal("20.00")))
        )
        result = await gateway.capture(CaptureBody(transaction_id=1001, amount=Decimal("5.00")))
        assert result.outcome is Outcome.MISMATCH


class TestRefund:
    async def test_full_refund_has_no_amount_key(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(f"{PAYMENT_URL}/refund").mock(
            return_value=json_response(200, approved_body(transactionType="REFUND", amount=Decimal("12.50")))
        )
        result = await gateway.refund(RefundBody(transaction_id=1001))
        sent = decode_json(route.calls.last.request.content)
        assert sent == {"transactionID": 1001}
        assert result.outcome is Outcome.APPROVED

    async def test_partial_refund(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        route = router.post(f"{PAYMENT_URL}/refund").mock(return_value=json_response(200, approved_body()))
        await gateway.refund(RefundBody(transaction_id=1001, amount=Decimal("3.1")))
        assert route.calls.last.request.content == b'{"transactionID":1001,"amount":3.10}'

    @pytest.mark.parametrize(
        ("code", "outcome"),
        [
            ("GTW_2045", Outcome.ALREADY_REFUNDED),
            ("GTW_2108", Outcome.VALIDATION_ERROR),
            ("GTW_2107", Outcome.VALIDATION_ERROR),
        ],
    )
    async def test_rejections_keep_their_code(
        self, gateway: NetValveClient, router: respx.MockRouter, code: str, outcome: Outcome
    ) -> None:
        router.post(f"{PAYMENT_URL}/refund").mock(
            return_value=json_response(200, declined_body(code, "SOFT DECLINE"))
        )
        result = await gateway.refund(RefundBody(transaction_id=1001, amount=Decimal("100.00")))
        assert result.outcome is outcome
        assert result.code == code


class TestCancel:
    async def test_cancel(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        route = router.post(f"{PAYMENT_URL}/cancel").mock(
            return_value=json_response(200, approved_body(transactionType="CANCEL"))
        )
        result = await gateway.cancel(CancelBody(transaction_id=1001))
        assert route.calls.last.request.content == b'{"transactionID":1001}'
        assert_api_key_headers(route.calls.last.request)
        assert result.outcome is Outcome.APPROVED

    async def test_already_cancelled(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.post(f"{PAYMENT_URL}/cancel").mock(
            return_value=json_response(200, declined_body("GTW_2047", "SOFT DECLINE"))
        )
        result = await gateway.cancel(CancelBody(transaction_id=1001))
        assert result.outcome is Outcome.ALREADY_CANCELLED

    async def test_unknown_reference(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        router.post(f"{PAYMENT_URL}/cancel").mock(
            return_value=json_response(404, {"responseCode": "GTW_2103"})
        )
        result = await gateway.cancel(CancelBody(transaction_id=999))
        assert result.outcome is Outcome.NOT_FOUND


class TestHppOrder:
    def order(self) -> HppOrderRequest:
        return HppOrderRequest(
            amount=Decimal("43.10"),
            currency="EUR",
            netvalve_mid_id=EUR_MID,
            client_order_id="cart_1",
            success_url="https://shop.test/ok",
            cancel_url="https://shop.test/cancel",
            failed_url="https://shop.test/failed",
        )

    async def test_uses_hpp_host_and_api_key_not_bearer(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        redirect = "https://checkout.nv.test?paymentToken=eyJhbGciOiJFQ0RILUVTIn0.x.y&language=en"
        route = router.post(f"{HPP_URL}/hpp/order").mock(
            return_value=json_response(
                200, approved_body(orderState="CREATED", redirectUrl=redirect, amount=Decimal("43.10"))
            )
        )
        result = await gateway.create_hpp_order(self.order())

        request = route.calls.last.request
        assert_api_key_headers(request)
        assert b'"amount":43.10,' in request.content
        assert result.outcome is Outcome.APPROVED
        assert result.operation is Operation.CREATE_HPP_ORDER
        assert result.response is not None
        assert result.response.redirect_url == redirect
        assert result.response.order_state == "CREATED"

    async def test_timeout_is_unknown_and_not_resent(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(f"{HPP_URL}/hpp/order").mock(side_effect=httpx.ReadTimeout)
        result = await gateway.create_hpp_order(self.order())
        assert route.call_count == 1
        assert result.outcome is Outcome.UNKNOWN


def routing_on_the_wire(routing: Routing) -> dict[str, object]:
    sale = SaleRequest(
        amount=1, currency="GBP", payment_type="CARD", payment_token="t", **routing.model_fields()
    )
    return {
        key: value for key, value in sale.wire_dict().items() if key in ("netvalveMidId", "midId", "siteId")
    }


class TestRouting:
    def test_digit_mid_is_mid_id(self) -> None:
        routing = routing_for(make_settings(netvalve_mid_id_gbp="42"), "GBP")
        assert routing_on_the_wire(routing) == {"midId": 42}

    def test_mid_wins_over_site(self) -> None:
        assert routing_on_the_wire(routing_for(make_settings(), "EUR")) == {"netvalveMidId": EUR_MID}

    def test_nothing_configured(self) -> None:
        with pytest.raises(MerchantNotConfigured, match="NETVALVE_MID_ID_USD or NETVALVE_SITE_ID") as caught:
            routing_for(make_settings(netvalve_site_id=None), "usd")
        assert caught.value.currency == "USD"
