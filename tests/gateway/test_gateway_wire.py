"""Wire models: exact request bytes, money rules, field limits and response parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from app.gateway import (
    AdditionalData,
    BackofficeScript,
    CancelBody,
    CaptureBody,
    CaptureOptions,
    CustomerDetails,
    HpfSession,
    HppOrderRequest,
    OrderDetails,
    Outcome,
    RefundBody,
    TransactionDetails,
    TransactionResponse,
    decode_json,
    encode_json,
    money_token,
    pick_active_script,
)
from tests.support.gateway import EUR_MID, JWT, PAYMENT_TOKEN, SITE_ID, sale_request


class TestMoneyEncoding:
    @pytest.mark.parametrize(
        ("amount", "token"),
        [
            (Decimal("1234567.89"), "1234567.89"),
            (Decimal("0.01"), "0.01"),
            (Decimal("12.5"), "12.50"),
            (Decimal("12.500"), "12.50"),
            (Decimal("12"), "12.00"),
            (Decimal("1E+2"), "100.00"),
            (Decimal("99999999999999.99"), "99999999999999.99"),
        ],
    )
    def test_amount_token_has_exactly_two_decimals(self, amount: Decimal, token: str) -> None:
        assert money_token(amount) == token
        assert encode_json({"amount": amount}) == b'{"amount":' + token.encode() + b"}"

    @pytest.mark.parametrize(
        "amount", [Decimal("1.001"), Decimal("0.005"), Decimal("0"), Decimal("-1.00"), Decimal("NaN")]
    )
    def test_refuses_amounts_it_would_have_to_round_or_that_are_not_positive(self, amount: Decimal) -> None:
        with pytest.raises(ValueError, match="amount"):
            money_token(amount)

    def test_float_is_never_encoded(self) -> None:
        with pytest.raises(TypeError, match="float"):
            encode_json({"amount": 12.5})

    def test_decode_keeps_fractions_as_decimal(self) -> None:
        body = decode_json(b'{"amount":0.10,"total":1234567.89,"id":7}')
        assert body == {"amount": Decimal("0.10"), "total": Decimal("1234567.89"), "id": 7}
        assert isinstance(body["amount"], Decimal)

    def test_decode_rejects_nan(self) -> None:
        with pytest.raises(ValueError, match="NaN"):
            decode_json(b'{"amount":NaN}')


class TestSaleRequest:
    def test_exact_bytes_with_netvalve_mid(self) -> None:
        req = sale_request(amount=Decimal("1234567.89"), order_desc="Order #42 <b>mugs</b>")
        assert req.to_wire() == (
            b'{"amount":1234567.89,"currency":"EUR","paymentType":"CARD",'
            b'"paymentToken":"' + PAYMENT_TOKEN.encode() + b'",'
            b'"netvalveMidId":"' + EUR_MID.encode() + b'",'
            b'"clientOrderId":"cart_01JABC_1732594189657","orderDesc":"Order 42 b mugs b"}'
        )

    def test_exact_bytes_with_site_id_and_customer(self) -> None:
        req = sale_request(
            amount=Decimal("0.01"),
            currency="usd",
            netvalve_mid_id=None,
            site_id=SITE_ID,
            client_order_id=None,
            customer_email="ada@example.com",
            customer_phone="+919900000000",
            customer_country_code="gb",
            customer_ip="203.0.113.9",
            additional_data=AdditionalData(
                credential_on_file_transaction="CIT", request_transaction_type="ECOMMERCE"
            ),
        )
        assert req.to_wire() == (
            b'{"customerCountryCode":"GB","customerPhone":"+919900000000",'
            b'"customerEmail":"ada@example.com","customerIp":"203.0.113.9",'
            b'"amount":0.01,"currency":"USD","paymentType":"CARD",'
            b'"paymentToken":"' + PAYMENT_TOKEN.encode() + b'",'
            b'"siteId":"' + SITE_ID.encode() + b'",'
            b'"additionalData":{"credentialOnFileTransaction":"CIT","requestTransactionType":"ECOMMERCE"}}'
        )

    def test_midid_digits_go_out_as_int(self) -> None:
        body = decode_json(sale_request(netvalve_mid_id=None, mid_id=2).to_wire())
        assert body["midId"] == 2
        assert "netvalveMidId" not in body
        assert "siteId" not in body

    def test_trailing_zero_amount(self) -> None:
        assert b'"amount":12.50,' in sale_request(amount="12.5").to_wire()

    @pytest.mark.parametrize(
        "routing",
        [
            {"netvalve_mid_id": None},
            {"site_id": SITE_ID},
            {"mid_id": 2},
            {"netvalve_mid_id": None, "mid_id": 2, "site_id": SITE_ID},
        ],
    )
    def test_exactly_one_routing_field(self, routing: dict[str, Any]) -> None:
        with pytest.raises(ValidationError, match="exactly one of netvalveMidId, midId, siteId"):
            sale_request(**routing)

    def test_accepts_wire_names(self) -> None:
        req = sale_request().model_validate(
            {
                "amount": "10.00",
                "currency": "EUR",
                "paymentType": "TOKEN",
                "paymentToken": PAYMENT_TOKEN,
                "siteId": SITE_ID,
            }
        )
        assert req.site_id == SITE_ID
        assert req.amount == Decimal("10.00")

    @pytest.mark.parametrize("amount", [Decimal("10.001"), Decimal("0"), Decimal("-5"), 12.5, True, "abc"])
    def test_refuses_bad_amounts(self, amount: object) -> None:
        with pytest.raises(ValidationError):
            sale_request(amount=amount)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("client_order_id", "x" * 101),
            ("client_order_id", ""),
            ("customer_state", "s" * 31),
            ("customer_zip_code", "z" * 11),
            ("customer_country_code", "GBR"),
            ("customer_country_code", "G1"),
            ("customer_phone", "+" + "1" * 20),
            ("customer_email", "a" * 120 + "@example.com"),
            ("customer_email", "not-an-email"),
            ("customer_ip", "localhost"),
            ("currency", "EURO"),
            ("payment_type", "CASH"),
            ("descriptor", "d" * 51),
        ],
    )
    def test_field_limits(self, field: str, value: str) -> None:
        with pytest.raises(ValidationError):
            sale_request(**{field: value})

    def test_limits_at_their_maximum_pass(self) -> None:
        req = sale_request(
            client_order_id="c" * 100,
            customer_state="s" * 30,
            customer_zip_code="z" * 10,
            customer_phone="+" + "1" * 19,
            customer_email="a" * 116 + "@example.com",
        )
        assert len(req.customer_email or "") == 128

    def test_order_desc_is_sanitised_and_capped(self) -> None:
        req = sale_request(order_desc="<script>alert('x')</script>  " + "y" * 200)
        assert req.order_desc is not None
        assert "<" not in req.order_desc
        assert "'" not in req.order_desc
        assert len(req.order_desc) == 100
        assert req.order_desc.startswith("script alert x script y")

    def test_payment_token_not_in_repr_or_validation_errors(self) -> None:
        assert PAYMENT_TOKEN not in repr(sale_request())
        with pytest.raises(ValidationError) as caught:
            sale_request(amount=Decimal("1.001"))
        assert PAYMENT_TOKEN not in str(caught.value)

    def test_unknown_field_is_a_programming_error(self) -> None:
        with pytest.raises(ValidationError):
            sale_request(cardNumber="4012000098765439")


class TestOtherRequests:
    def test_capture_with_final_capture(self) -> None:
        req = CaptureBody(
            transaction_id=1001, amount=Decimal("7.5"), capture_options=CaptureOptions(final_capture=True)
        )
        assert req.to_wire() == b'{"transactionID":1001,"amount":7.50,"captureOptions":{"finalCapture":true}}'

    def test_refund_without_amount_omits_the_key(self) -> None:
        assert RefundBody(transaction_id=1001).to_wire() == b'{"transactionID":1001}'

    def test_partial_refund(self) -> None:
        assert RefundBody(transaction_id=1001, amount="3.10").to_wire() == (
            b'{"transactionID":1001,"amount":3.10}'
        )

    def test_cancel(self) -> None:
        assert CancelBody(transaction_id=1001).to_wire() == b'{"transactionID":1001}'

    def test_transaction_id_must_be_positive(self) -> None:
        with pytest.raises(ValidationError):
            CancelBody(transaction_id=0)

    def test_hpp_order(self) -> None:
        req = HppOrderRequest(
            amount=Decimal("43.1"),
            currency="EUR",
            netvalve_mid_id=EUR_MID,
            client_order_id="cart_1",
            order_desc="Cart 1",
            success_url="https://shop.test/ok",
            cancel_url="https://shop.test/cancel",
            failed_url="https://shop.test/failed",
            customer_details=CustomerDetails(customer_email="ada@example.com"),
        )
        assert req.to_wire() == (
            b'{"amount":43.10,"currency":"EUR","mode":"SALE","netvalveMidId":"' + EUR_MID.encode() + b'",'
            b'"clientOrderId":"cart_1","orderDesc":"Cart 1","successUrl":"https://shop.test/ok",'
            b'"cancelUrl":"https://shop.test/cancel","failedUrl":"https://shop.test/failed",'
            b'"customerDetails":{"customerEmail":"ada@example.com"}}'
        )

    def test_hpp_order_needs_one_routing_field_and_absolute_urls(self) -> None:
        urls = {"success_url": "https://s.test/a", "cancel_url": "https://s.test/b", "failed_url": "/c"}
        with pytest.raises(ValidationError, match="absolute"):
            HppOrderRequest(amount=1, currency="EUR", site_id=SITE_ID, **urls)
        urls["failed_url"] = "https://s.test/c"
        with pytest.raises(ValidationError, match="exactly one"):
            HppOrderRequest(amount=1, currency="EUR", site_id=SITE_ID, netvalve_mid_id=EUR_MID, **urls)


class TestResponses:
    def test_transaction_response(self) -> None:
        raw = (
            b'{"traceID":"t-1","transactionID":1001,"orderId":501,"responseCode":"GTW_1000",'
            b'"responseCodeType":"APPROVED","amount":12.50,"currency":"EUR","cardNumber":"401200******5439",'
            b'"midId":2,"siteId":"","paymentToken":"secret-token","unknownField":{"x":1}}'
        )
        resp = TransactionResponse.model_validate(decode_json(raw))
        assert resp.transaction_id == 1001
        assert resp.amount == Decimal("12.50")
        assert isinstance(resp.amount, Decimal)
        assert resp.card_number == "401200******5439"
        assert resp.site_id is None
        assert resp.outcome is Outcome.APPROVED
        assert "secret-token" not in repr(resp)

    def test_full_pan_in_a_response_is_masked(self) -> None:
        resp = TransactionResponse.model_validate({"cardNumber": "4012000098765439"})
        assert resp.card_number == "401200******5439"

    def test_transaction_details(self) -> None:
        body = decode_json(
            b'{"netvalveID":1001,"status":"Authorised","amount":20.00,"currency":"EUR",'
            b'"clientOrderId":"cart_1","transactionType":"AUTHORIZATION","refundBalancedAmount":0.00,'
            b'"transactionReference":null,"allowedActions":["CAPTURE","CANCEL"],'
            b'"transactionReferencedList":[{"id":1002,"transactionType":"CAPTURE","amount":5.00,'
            b'"responseCode":"GTW_1000","responseCodeType":"APPROVED"}]}'
        )
        details = TransactionDetails.model_validate(body)
        assert details.netvalve_id == 1001
        assert details.status == "Authorised"
        assert details.amount == Decimal("20.00")
        assert details.refund_balanced_amount == Decimal("0.00")
        assert details.allowed_actions == ["CAPTURE", "CANCEL"]
        assert details.transactions[0].transaction_id == 1002
        assert details.transactions[0].outcome is Outcome.APPROVED

    def test_order_details_and_approved_payment(self) -> None:
        body = decode_json(
            b'{"id":77,"clientOrderId":"cart_1","orderAmount":43.10,"currency":"EUR","hppOrderStatus":"PAID",'
            b'"transactions":['
            b'{"transactionID":1,"transactionType":"SALE","amount":43.10,"responseCode":"BNK_2011",'
            b'"responseCodeType":"SOFT DECLINE"},'
            b'{"transactionId":2,"transactionType":"SALE","amount":43.10,"responseCode":"GTW_1000",'
            b'"responseCodeType":"APPROVED"},'
            b'{"transactionID":3,"transactionType":"REFUND","amount":1.00,"responseCode":"GTW_1000"}]}'
        )
        order = OrderDetails.model_validate(body)
        assert order.order_amount == Decimal("43.10")
        assert order.state == "PAID"
        assert [t.transaction_id for t in order.transactions] == [1, 2, 3]
        assert order.transactions[0].outcome is Outcome.SOFT_DECLINE
        payment = order.approved_payment()
        assert payment is not None
        assert payment.transaction_id == 2

    def test_order_without_approved_payment(self) -> None:
        order = OrderDetails.model_validate(
            {"id": 1, "transactions": [{"id": 5, "transactionType": "SALE", "responseCode": "BNK_2000"}]}
        )
        assert order.approved_payment() is None

    def test_hpf_session_reads_jwt_from_script_url(self) -> None:
        src = f"https://sdk.nv.test/index.D-X.js?version=D-X&paymentToken={PAYMENT_TOKEN}&jwtToken={JWT}"
        session = HpfSession.model_validate(
            {"responseCode": "GTW_1003", "netvalveScriptSrc": src, "paymentToken": PAYMENT_TOKEN}
        )
        assert session.jwt_token == JWT
        assert JWT not in repr(session)
        assert PAYMENT_TOKEN not in repr(session)

    def test_hpf_session_prefers_top_level_jwt(self) -> None:
        session = HpfSession.model_validate(
            {
                "netvalveScriptSrc": "https://sdk.nv.test/i.js?jwtToken=from-url",
                "paymentToken": PAYMENT_TOKEN,
                "jwtToken": "top-level",
            }
        )
        assert session.jwt_token == "top-level"

    def test_hpf_session_requires_script_and_token(self) -> None:
        with pytest.raises(ValidationError):
            HpfSession.model_validate({"responseCode": "GTW_1003", "paymentToken": PAYMENT_TOKEN})


class TestPickActiveScript:
    def script(self, **values: Any) -> BackofficeScript:
        base: dict[str, Any] = {
            "id": 1,
            "netvalveScriptSrc": "https://sdk.nv.test/a.js",
            "integrity": "sha384-x",
            "status": "ACTIVE",
            "deleted": False,
            "isDefault": False,
            "createdDate": "2025-01-01T00:00:00",
        }
        base.update(values)
        return BackofficeScript.model_validate(base)

    def test_prefers_default(self) -> None:
        scripts = [
            self.script(id=1, createdDate="2025-06-01T00:00:00Z"),
            self.script(id=2, isDefault=True, createdDate="2024-01-01T00:00:00"),
        ]
        chosen = pick_active_script(scripts)
        assert chosen is not None
        assert chosen.id == 2

    def test_else_newest(self) -> None:
        scripts = [
            self.script(id=1, createdDate="2025-01-01T00:00:00"),
            self.script(id=2, createdDate=1_750_000_000_000),
            self.script(id=3, createdDate=None),
        ]
        chosen = pick_active_script(scripts)
        assert chosen is not None
        assert chosen.id == 2
        assert chosen.created_date == datetime.fromtimestamp(1_750_000_000, UTC)

    def test_skips_inactive_deleted_and_plain_http(self) -> None:
        scripts = [
            self.script(id=1, status="INACTIVE", isDefault=True),
            self.script(id=2, deleted=True, isDefault=True),
            self.script(id=3, netvalveScriptSrc="http://sdk.nv.test/a.js", isDefault=True),
            self.script(id=4, netvalveScriptSrc=None),
        ]
        assert pick_active_script(scripts) is None
