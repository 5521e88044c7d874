"""Classification tables: response codes, code types, HTTP statuses and webhook event names."""

from __future__ import annotations

from typing import Any

import pytest

from app.gateway import WEBHOOK_EVENT_KINDS, EventKind, Outcome, classify_code, classify_response, event_kind
from app.gateway.outcomes import success_codes_for


class TestClassifyCode:
    @pytest.mark.parametrize(
        ("code", "code_type", "outcome"),
        [
            ("GTW_1000", "APPROVED", Outcome.APPROVED),
            ("GTW_1001", "APPROVED", Outcome.APPROVED),
            ("GTW_1000", None, Outcome.APPROVED),
            ("GTW_1002", "PENDING", Outcome.PENDING),
            ("GTW_1002", None, Outcome.PENDING),
            ("BNK_2011", "SOFT DECLINE", Outcome.SOFT_DECLINE),
            ("BNK_2005", "HARD DECLINE", Outcome.HARD_DECLINE),
            ("BNK_3004", None, Outcome.HARD_DECLINE),
            ("BNK_2000", "SOFT DECLINE", Outcome.SOFT_DECLINE),
            # S3 took BNK_2000 ("Refer To Card Issuer") for an approval; it is a decline.
            ("BNK_2000", "APPROVED", Outcome.SOFT_DECLINE),
            ("BNK_2000", None, Outcome.SOFT_DECLINE),
            # "Amount No Longer Available": what a capture meets once the issuer released the hold.
            ("BNK_2001", "SOFT DECLINE", Outcome.AUTHORIZATION_EXPIRED),
            ("GTW_2045", "SOFT DECLINE", Outcome.ALREADY_REFUNDED),
            ("GTW_2046", "SOFT DECLINE", Outcome.ALREADY_CAPTURED),
            ("GTW_2047", "SOFT DECLINE", Outcome.ALREADY_CANCELLED),
            ("GTW_2065", "SOFT DECLINE", Outcome.DUPLICATE_ORDER),
            ("GTW_2070", "SOFT DECLINE", Outcome.DUPLICATE_ORDER),
            ("GTW_2103", "SOFT DECLINE", Outcome.NOT_FOUND),
            ("GTW_2003", "SOFT DECLINE", Outcome.VALIDATION_ERROR),
            ("GTW_2004", None, Outcome.VALIDATION_ERROR),
            ("GTW_2018", None, Outcome.VALIDATION_ERROR),
            ("GTW_2019", None, Outcome.VALIDATION_ERROR),
            ("GTW_2020", None, Outcome.VALIDATION_ERROR),
            ("GTW_2085", None, Outcome.VALIDATION_ERROR),
            ("GTW_2092", None, Outcome.VALIDATION_ERROR),
            ("GTW_2107", "SOFT DECLINE", Outcome.VALIDATION_ERROR),
            ("GTW_2108", "SOFT DECLINE", Outcome.VALIDATION_ERROR),
            ("GTW_2123", None, Outcome.VALIDATION_ERROR),
            ("GTW_2124", None, Outcome.VALIDATION_ERROR),
            ("GTW_9001", None, Outcome.AUTH_ERROR),
            ("GTW_9002", None, Outcome.AUTH_ERROR),
            ("GTW_9003", None, Outcome.AUTH_ERROR),
            ("GTW_2082", None, Outcome.AUTH_ERROR),
            ("GTW_4001", None, Outcome.HARD_DECLINE),
            ("GTW_2054", None, Outcome.UNKNOWN),
            ("GTW_9999", None, Outcome.UNAVAILABLE),
            ("XYZ_1234", None, Outcome.UNKNOWN),
            (None, None, Outcome.UNKNOWN),
            # An approval type next to a code we do not know is not taken for success.
            ("GTW_1004", "APPROVED", Outcome.UNKNOWN),
            ("GTW_1000", "SOFT DECLINE", Outcome.UNKNOWN),
            ("GTW_9000", "PENDING", Outcome.PENDING),
            ("GTW_5000", "soft_decline", Outcome.SOFT_DECLINE),
        ],
    )
    def test_table(self, code: str | None, code_type: str | None, outcome: Outcome) -> None:
        assert classify_code(code, code_type) is outcome

    def test_gtw_1003_is_success_only_for_hpf_sessions(self) -> None:
        assert (
            classify_code("GTW_1003", None, success_codes_for("initialize_hpf_session")) is Outcome.APPROVED
        )
        assert classify_code("GTW_1003", "APPROVED", success_codes_for("sale")) is Outcome.UNKNOWN


class TestClassifyResponse:
    def test_validation_array(self) -> None:
        body = [
            {
                "responseCode": "GTW_2034",
                "responseMessage": "Validation error for field = cardNumber  Message:- Card Number Invalid.",
                "responseCodeType": "SOFT DECLINE",
            }
        ]
        result = classify_response(400, body)
        assert result.outcome is Outcome.VALIDATION_ERROR
        assert result.code == "GTW_2034"
        assert result.message is not None
        assert "cardNumber" in result.message

    def test_array_keeps_the_specific_code(self) -> None:
        assert classify_response(400, [{"responseCode": "GTW_2108"}]).code == "GTW_2108"
        assert classify_response(400, [{"responseCode": "GTW_2124"}]).code == "GTW_2124"
        assert classify_response(400, [{"responseCode": "GTW_9001"}]).outcome is Outcome.AUTH_ERROR

    @pytest.mark.parametrize(
        ("status", "body", "outcome"),
        [
            (
                401,
                {"responseCode": "GTW_9001", "responseMessage": "Authentication failure!"},
                Outcome.AUTH_ERROR,
            ),
            (403, None, Outcome.AUTH_ERROR),
            (429, None, Outcome.RATE_LIMITED),
            (500, {"responseCode": "GTW_1000"}, Outcome.UNAVAILABLE),
            (502, None, Outcome.UNAVAILABLE),
            (200, None, Outcome.UNAVAILABLE),
            (200, "just a string", Outcome.UNAVAILABLE),
            (404, {"error": "Not Found"}, Outcome.NOT_FOUND),
            (400, {"responseCode": "GTW_2034", "responseCodeType": "SOFT DECLINE"}, Outcome.VALIDATION_ERROR),
            (422, {}, Outcome.VALIDATION_ERROR),
            (409, {"responseCode": "GTW_1000"}, Outcome.UNKNOWN),
            (200, {"responseCode": "GTW_2082"}, Outcome.AUTH_ERROR),
            (200, {}, Outcome.UNKNOWN),
            (200, [], Outcome.UNKNOWN),
            (200, [{"responseCode": "GTW_2034"}], Outcome.UNKNOWN),
            (400, [], Outcome.VALIDATION_ERROR),
        ],
    )
    def test_status_and_body(self, status: int, body: Any, outcome: Outcome) -> None:
        assert classify_response(status, body).outcome is outcome


class TestWebhookEvents:
    @pytest.mark.parametrize(
        ("event", "kind"),
        [
            ("AUTHORISED", EventKind.AUTHORIZED),
            ("PURCHASED", EventKind.CAPTURED),
            ("CAPTURED", EventKind.CAPTURED),
            ("REBILLED", EventKind.CAPTURED),
            ("CANCELLED", EventKind.CANCELED),
            ("REFUNDED", EventKind.REFUNDED),
            ("AUTHORISATION_FAILED", EventKind.FAILED),
            ("PURCHASE_FAILED", EventKind.FAILED),
            ("CAPTURE_FAILED", EventKind.FAILED),
            ("CANCELLATION_FAILED", EventKind.FAILED),
            ("REFUND_FAILED", EventKind.FAILED),
            ("REBIL_FAILED", EventKind.FAILED),
            ("AUTHORISATION_PENDING", EventKind.PENDING),
            ("PURCHASE_PENDING", EventKind.PENDING),
            ("CAPTURE_PENDING", EventKind.PENDING),
            ("REBILL_PENDING", EventKind.PENDING),
            ("REFUND_PENDING", EventKind.PENDING),
            ("CANCELLATION_PENDING", EventKind.PENDING),
            ("CHARGEBACK", EventKind.CHARGEBACK),
            (" purchased ", EventKind.CAPTURED),
            ("payment.succeeded", EventKind.UNKNOWN),
            ("", EventKind.UNKNOWN),
            (None, EventKind.UNKNOWN),
        ],
    )
    def test_event_kind(self, event: str | None, kind: EventKind) -> None:
        assert event_kind(event) is kind

    def test_mapping_is_data(self) -> None:
        assert WEBHOOK_EVENT_KINDS["REBIL_FAILED"] is EventKind.FAILED
        with pytest.raises(TypeError):
            WEBHOOK_EVENT_KINDS["AUTHORIZED"] = EventKind.AUTHORIZED  # type: ignore[index]
