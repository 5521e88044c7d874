"""Saved cards on the wire: the stored-credential part of a sale (``CardOnFile``), ``/createToken``, the
issued gateway token in the answers, and the token kept out of every log line and repr."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from app.gateway import (
    Browser,
    CardOnFile,
    IssuedCard,
    NetValveClient,
    Outcome,
    Refusal,
    Routing,
    RoutingKind,
    Sale,
    Shopper,
    TransactionResponse,
    UnsendableRequest,
    decode_json,
    requests,
)
from netvalve_sandbox.main import create_app as create_sandbox
from netvalve_sandbox.main import sandbox_of
from netvalve_sandbox.settings import SandboxSettings
from tests.support.gateway import (
    API_KEY,
    EUR_MID,
    PAYMENT_TOKEN,
    PAYMENT_URL,
    SITE_ID,
    approved_body,
    declined_body,
    json_response,
    make_settings,
)

GATEWAY_TOKEN = "38a5f789-7ca8-45c4-bc9f-1114d2d706b0"
CREATE_TOKEN = f"{PAYMENT_URL}/createToken"
SALE = f"{PAYMENT_URL}/sale"
SANDBOX_URL = "http://netvalve.test"
ROUTING = Routing(RoutingKind.NETVALVE_MID, EUR_MID)
INITIAL_CIT = {
    "requestTransactionType": "RECURRING",
    "recurringScheduleType": "CIT_COF",
    "recurrenceMode": "Initial",
}
CUSTOMER_PRESENT = {"credentialOnFileTransaction": "CIT", "requestTransactionType": "ECOMMERCE"}
MERCHANT_INITIATED = {
    "requestTransactionType": "RECURRING",
    "recurringScheduleType": "MIT_UNSCHEDULED_COF",
    "recurrenceMode": "Repeated",
    "initialTransactionId": 1001,
}
ISSUED = {
    "cardNumber": "401200******5439",
    "cardType": "VISA",
    "cardExpiryMonth": "12",
    "cardExpiryYear": "2030",
    "paymentToken": GATEWAY_TOKEN,
    "paymentTokenType": "GATEWAY_TOKEN",
}


def _sale(card_on_file: CardOnFile | None = None, **overrides: Any) -> Sale:
    values: dict[str, Any] = {
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "routing": ROUTING,
        "description": "Order 42",
        "shopper": Shopper(
            email="ada@example.com", first_name="Ada", last_name="Lovelace", country_code="GB"
        ),
        "card_on_file": card_on_file,
    }
    return Sale(**(values | overrides))


def _body(sale: Sale) -> dict[str, Any]:
    body: dict[str, Any] = decode_json(requests.sale(sale, "cart_1_1732594189657").to_wire())
    return body


class TestSaleBody:
    def test_a_card_sale_without_card_on_file_is_unchanged(self) -> None:
        body = _body(_sale(payment_token=PAYMENT_TOKEN))

        assert (body["paymentType"], body["paymentToken"]) == ("CARD", PAYMENT_TOKEN)
        assert "additionalData" not in body

    def test_the_sale_that_saves_the_card_is_the_initial_cit(self) -> None:
        body = _body(_sale(CardOnFile("initial"), payment_token=PAYMENT_TOKEN))

        assert (body["paymentType"], body["paymentToken"]) == ("CARD", PAYMENT_TOKEN)
        assert body["additionalData"] == INITIAL_CIT

    def test_a_customer_present_saved_card_sale_is_a_cit_token_sale(self) -> None:
        sale = _sale(CardOnFile("customer", token=GATEWAY_TOKEN))

        body = _body(sale)

        assert sale.payment_token == GATEWAY_TOKEN
        assert (body["paymentType"], body["paymentToken"]) == ("TOKEN", GATEWAY_TOKEN)
        assert body["additionalData"] == CUSTOMER_PRESENT
        assert "cardSecurityCode" not in body

    def test_a_merchant_initiated_sale_names_the_initial_transaction(self) -> None:
        body = _body(_sale(CardOnFile("merchant", token=GATEWAY_TOKEN, initial_transaction_id=1001)))

        assert (body["paymentType"], body["paymentToken"]) == ("TOKEN", GATEWAY_TOKEN)
        assert body["additionalData"] == MERCHANT_INITIATED

    def test_exact_bytes_of_a_merchant_initiated_sale(self) -> None:
        sale = _sale(CardOnFile("merchant", token=GATEWAY_TOKEN, initial_transaction_id=1001))

        assert requests.sale(sale, "cart_1_1").to_wire() == (
            b'{"customerName":"Ada Lovelace","customerFirstName":"Ada","customerLastName":"Lovelace",'
            b'"customerCountryCode":"GB","customerEmail":"ada@example.com",'
            b'"amount":12.50,"currency":"EUR","paymentType":"TOKEN",'
            b'"paymentToken":"' + GATEWAY_TOKEN.encode() + b'",'
            b'"netvalveMidId":"' + EUR_MID.encode() + b'",'
            b'"clientOrderId":"cart_1_1","orderDesc":"Order 42",'
            b'"additionalData":{"requestTransactionType":"RECURRING","recurringScheduleType":"MIT_UNSCHEDULED_COF",'
            b'"recurrenceMode":"Repeated","initialTransactionId":1001}}'
        )

    @pytest.mark.parametrize(
        ("sale", "fields"),
        [
            pytest.param(_sale(CardOnFile("customer")), ["cardOnFile.token"], id="customer-without-token"),
            pytest.param(
                _sale(CardOnFile("merchant", token=GATEWAY_TOKEN)),
                ["cardOnFile.initialTransactionId"],
                id="merchant-without-initial",
            ),
            pytest.param(
                _sale(CardOnFile("merchant", token=GATEWAY_TOKEN, initial_transaction_id=0)),
                ["cardOnFile.initialTransactionId"],
                id="merchant-with-zero-initial",
            ),
            pytest.param(
                _sale(CardOnFile("initial", token=GATEWAY_TOKEN), payment_token=PAYMENT_TOKEN),
                ["cardOnFile.token"],
                id="initial-with-a-saved-token",
            ),
            pytest.param(
                _sale(CardOnFile("customer", token=GATEWAY_TOKEN), payment_token=PAYMENT_TOKEN),
                ["paymentToken"],
                id="two-tokens",
            ),
            pytest.param(
                _sale(CardOnFile("customer", token=GATEWAY_TOKEN, initial_transaction_id=1001)),
                ["cardOnFile.initialTransactionId"],
                id="customer-with-initial",
            ),
        ],
    )
    def test_a_card_on_file_netvalve_could_not_take_is_unsendable(
        self, sale: Sale, fields: list[str]
    ) -> None:
        with pytest.raises(UnsendableRequest) as caught:
            requests.check_sale(sale)

        assert caught.value.fields == fields
        assert GATEWAY_TOKEN not in str(caught.value)

    def test_the_token_is_in_no_repr(self) -> None:
        card_on_file = CardOnFile("merchant", token=GATEWAY_TOKEN, initial_transaction_id=1001)
        sale = _sale(card_on_file)

        for value in (card_on_file, sale, requests.sale(sale, "cart_1_1")):
            assert GATEWAY_TOKEN not in repr(value)
        assert "1001" in repr(card_on_file)


BROWSER = Browser(
    user_agent="Mozilla/5.0",
    accept_header="text/html",
    language="en-GB",
    color_depth=24,
    screen_height=900,
    screen_width=1440,
    time_zone=0,
    java_enabled=False,
)


class TestThreeDS:
    def test_a_customer_present_saved_card_authenticates_with_its_token(self) -> None:
        body = requests.threeds_initialization(
            _sale(CardOnFile("customer", token=GATEWAY_TOKEN)), BROWSER, None
        )

        wire = decode_json(body.to_wire())
        assert wire["paymentToken"] == GATEWAY_TOKEN
        # NetValve's 3-D Secure bodies have no additionalData: the CIT marking travels with the sale.
        assert "additionalData" not in wire

    def test_no_shopper_no_authentication(self) -> None:
        sale = _sale(CardOnFile("merchant", token=GATEWAY_TOKEN, initial_transaction_id=1001))

        with pytest.raises(UnsendableRequest) as initialization:
            requests.threeds_initialization(sale, BROWSER, None)
        with pytest.raises(UnsendableRequest) as authentication:
            requests.check_threeds_authentication(sale)

        assert initialization.value.fields == authentication.value.fields == ["cardOnFile.kind"]


class TestCreateTokenBody:
    def test_exact_bytes(self) -> None:
        body = requests.create_token(PAYMENT_TOKEN, ROUTING, currency="eur", verify=True)

        assert body.to_wire() == (
            b'{"paymentToken":"' + PAYMENT_TOKEN.encode() + b'","currency":"EUR",'
            b'"netvalveMidId":"' + EUR_MID.encode() + b'","verify":true}'
        )
        assert PAYMENT_TOKEN not in repr(body)

    def test_an_all_digit_mid_goes_out_as_mid_id(self) -> None:
        body = requests.create_token(
            PAYMENT_TOKEN, Routing(RoutingKind.MID, "2"), currency="USD", verify=False
        )

        assert decode_json(body.to_wire()) == {
            "paymentToken": PAYMENT_TOKEN,
            "currency": "USD",
            "midId": 2,
            "verify": False,
        }

    def test_smart_routing_has_no_create_token(self) -> None:
        # TokenizedCardInputDTO names midId and netvalveMidId, no siteId.
        with pytest.raises(UnsendableRequest) as caught:
            requests.create_token(
                PAYMENT_TOKEN, Routing(RoutingKind.SITE, SITE_ID), currency="EUR", verify=True
            )

        assert caught.value.fields == ["siteId"]


class TestIssuedCard:
    def test_an_approved_answer_with_a_gateway_token_exposes_the_saved_card(self) -> None:
        answer = TransactionResponse.model_validate(approved_body(**ISSUED))

        assert answer.payment_token_type == "GATEWAY_TOKEN"
        assert answer.issued_card == IssuedCard(
            token=GATEWAY_TOKEN,
            token_type="GATEWAY_TOKEN",
            masked="401200******5439",
            brand="VISA",
            expiry_month=12,
            expiry_year=2030,
        )
        assert GATEWAY_TOKEN not in repr(answer)
        assert GATEWAY_TOKEN not in repr(answer.issued_card)

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(approved_body(paymentToken=PAYMENT_TOKEN, paymentTokenType="HPF"), id="hpf-token"),
            pytest.param(approved_body(), id="no-token"),
            pytest.param(declined_body("BNK_2005", "SOFT DECLINE", **ISSUED), id="declined"),
        ],
    )
    def test_no_gateway_token_no_saved_card(self, body: dict[str, Any]) -> None:
        assert TransactionResponse.model_validate(body).issued_card is None

    def test_the_minimal_create_token_answer_has_a_token_without_card_details(self) -> None:
        answer = TransactionResponse.model_validate(
            {
                "traceID": "t",
                "responseCode": "GTW_1000",
                "paymentToken": GATEWAY_TOKEN,
                "paymentTokenType": "GATEWAY_TOKEN",
            }
        )

        issued = answer.issued_card
        assert issued is not None
        assert (issued.token, issued.masked, issued.brand, issued.expiry_month) == (
            GATEWAY_TOKEN,
            None,
            None,
            None,
        )


class TestCreateTokenCall:
    async def test_verify_answer_is_read_and_sent_with_the_api_key(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(CREATE_TOKEN).mock(
            return_value=json_response(200, approved_body(transactionType="AUTHORIZATION", **ISSUED))
        )

        result = await gateway.create_token(
            requests.create_token(PAYMENT_TOKEN, ROUTING, currency="EUR", verify=True)
        )

        assert result.outcome is Outcome.APPROVED
        assert result.issued_card is not None
        assert (result.issued_card.token, result.issued_card.masked) == (GATEWAY_TOKEN, "401200******5439")
        assert result.transaction_id == 1001
        sent = route.calls.last.request
        assert sent.headers["netvalve-api-key"] == API_KEY
        assert decode_json(sent.content)["verify"] is True

    async def test_minimal_answer_without_verify(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        router.post(CREATE_TOKEN).mock(
            return_value=json_response(
                200,
                {
                    "traceID": "5640a739",
                    "responseTimestamp": "2025-11-18T09:23:09.292+00:00",
                    "responseCode": "GTW_1000",
                    "paymentToken": GATEWAY_TOKEN,
                    "paymentTokenType": "GATEWAY_TOKEN",
                },
            )
        )

        result = await gateway.create_token(
            requests.create_token(PAYMENT_TOKEN, ROUTING, currency="EUR", verify=False)
        )

        assert result.outcome is Outcome.APPROVED
        assert result.issued_card is not None
        assert result.issued_card.token == GATEWAY_TOKEN
        assert result.transaction_id is None

    async def test_declined_verification_issues_nothing(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        router.post(CREATE_TOKEN).mock(
            return_value=json_response(200, declined_body("BNK_2005", "SOFT DECLINE"))
        )

        result = await gateway.create_token(
            requests.create_token(PAYMENT_TOKEN, ROUTING, currency="EUR", verify=True)
        )

        assert (result.outcome, result.issued_card) == (Outcome.SOFT_DECLINE, None)

    async def test_a_lost_answer_is_never_resent(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(CREATE_TOKEN).mock(side_effect=httpx.ReadTimeout("lost"))

        result = await gateway.create_token(
            requests.create_token(PAYMENT_TOKEN, ROUTING, currency="EUR", verify=True)
        )

        assert route.call_count == 1
        assert (result.outcome, result.request_sent, result.is_uncertain) == (Outcome.UNKNOWN, True, True)

    async def test_not_sent_is_retried_and_the_breaker_counts_it(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(CREATE_TOKEN).mock(side_effect=httpx.ConnectError("refused"))

        result = await gateway.create_token(
            requests.create_token(PAYMENT_TOKEN, ROUTING, currency="EUR", verify=True)
        )
        await gateway.create_token(requests.create_token(PAYMENT_TOKEN, ROUTING, currency="EUR", verify=True))

        assert (result.outcome, result.request_sent, result.attempts) == (Outcome.UNAVAILABLE, False, 3)
        assert route.call_count == 3
        assert gateway.circuit.state == "open"

    async def test_an_unusable_hpf_token_is_an_invalid_token_refusal(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        message = "Validation error for field = paymentToken  Message:- Payment Token Already Used."
        router.post(CREATE_TOKEN).mock(
            return_value=json_response(
                400,
                [
                    {
                        "responseCode": "GTW_2034",
                        "responseMessage": message,
                        "responseCodeType": "SOFT DECLINE",
                    }
                ],
            )
        )

        result = await gateway.create_token(
            requests.create_token(PAYMENT_TOKEN, ROUTING, currency="EUR", verify=False)
        )

        assert (result.outcome, result.nothing_happened) == (Outcome.VALIDATION_ERROR, True)
        assert result.refusal is not None
        assert result.refusal.value == "invalid_token"


def _record_text(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + repr(record.__dict__)


class TestTokenNeverLogged:
    async def test_issued_and_sent_tokens_stay_out_of_logs_messages_and_reprs(
        self, gateway: NetValveClient, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="app.gateway")
        echo = f"Approved, token {GATEWAY_TOKEN} saved"
        router.post(CREATE_TOKEN).mock(
            return_value=json_response(200, approved_body(responseMessage=echo, **ISSUED))
        )
        router.post(SALE).mock(
            side_effect=[
                json_response(200, approved_body(responseMessage=echo, **ISSUED)),
                json_response(400, [{"responseCode": "GTW_2034", "responseMessage": f"bad {GATEWAY_TOKEN}"}]),
                json_response(200, declined_body("GTW_2081", "SOFT DECLINE", f"no CIT for {GATEWAY_TOKEN}")),
            ]
        )
        saved = CardOnFile("merchant", token=GATEWAY_TOKEN, initial_transaction_id=1001)

        results = [
            await gateway.create_token(
                requests.create_token(PAYMENT_TOKEN, ROUTING, currency="EUR", verify=True)
            ),
            *[await gateway.sale(requests.sale(_sale(saved), f"cart_{n}")) for n in range(3)],
        ]

        assert [result.outcome for result in results] == [
            Outcome.APPROVED,
            Outcome.APPROVED,
            Outcome.VALIDATION_ERROR,
            Outcome.SOFT_DECLINE,
        ]
        # httpx's own request lines show up too once an earlier test turned its logger on: counted apart.
        assert len([r for r in caplog.records if r.name.startswith("app.gateway")]) == 4
        for record in caplog.records:
            for secret in (GATEWAY_TOKEN, PAYMENT_TOKEN, API_KEY):
                assert secret not in _record_text(record)
        for result in results:
            assert GATEWAY_TOKEN not in repr(result)
            assert GATEWAY_TOKEN not in (result.message or "")


class TestAgainstTheSandbox:
    """The bodies built here are the ones the sandbox enforces (its README, "Gateway tokens")."""

    @pytest.fixture
    async def live(self) -> AsyncIterator[tuple[NetValveClient, httpx.AsyncClient]]:
        sandbox = create_sandbox(SandboxSettings(webhooks_enabled=False, pending_settle_seconds=0))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sandbox), base_url=SANDBOX_URL
        ) as http:
            settings = make_settings(
                netvalve_payment_api_url=SANDBOX_URL,
                netvalve_api_key="sandbox-api-key",
                netvalve_client_id="sandbox-client",
            )
            yield NetValveClient(http, settings), http
        await sandbox_of(sandbox).aclose()

    @staticmethod
    async def _hpf_token(client: NetValveClient, http: httpx.AsyncClient) -> str:
        session = (await client.initialize_hpf_session()).details
        assert session is not None
        card = {"cardNumber": "4012000098765439", "expiryMonth": "12", "expiryYear": "2030", "cvv": "999"}
        tokenized = await http.post(
            "/_sandbox/tokenize", json={"paymentToken": session.payment_token, **card}
        )
        assert tokenized.status_code == 200
        return session.payment_token

    async def test_save_pay_present_and_charge_absent(
        self, live: tuple[NetValveClient, httpx.AsyncClient]
    ) -> None:
        client, http = live
        hpf = await self._hpf_token(client, http)

        initial = await client.sale(
            requests.sale(_sale(CardOnFile("initial"), payment_token=hpf), "cart_1_1")
        )
        assert initial.issued_card is not None
        token = initial.issued_card.token
        present = await client.sale(requests.sale(_sale(CardOnFile("customer", token=token)), "cart_2_1"))
        absent = CardOnFile("merchant", token=token, initial_transaction_id=initial.transaction_id)
        charged = await client.sale(requests.sale(_sale(absent), "order_1_1"))

        assert [result.outcome for result in (initial, present, charged)] == [Outcome.APPROVED] * 3
        assert (initial.issued_card.masked, initial.issued_card.brand) == ("401200******5439", "VISA")
        assert (initial.issued_card.expiry_month, initial.issued_card.expiry_year) == (12, 2030)

    async def test_a_token_without_consent_is_declined_for_a_merchant_charge(
        self, live: tuple[NetValveClient, httpx.AsyncClient]
    ) -> None:
        client, http = live
        hpf = await self._hpf_token(client, http)
        created = await client.create_token(requests.create_token(hpf, ROUTING, currency="EUR", verify=True))
        assert created.issued_card is not None
        absent = CardOnFile(
            "merchant", token=created.issued_card.token, initial_transaction_id=created.transaction_id
        )

        charged = await client.sale(requests.sale(_sale(absent), "order_1_1"))

        assert (charged.outcome, charged.code) == (Outcome.SOFT_DECLINE, "GTW_2081")
        # A decline for the request's own reason (no approved initial CIT), not the card's.
        assert charged.refusal is Refusal.NO_INITIAL_CIT
