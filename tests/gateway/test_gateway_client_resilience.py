"""Retries before sending, the circuit breaker, log hygiene and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest
import respx
from prometheus_client import REGISTRY

from app.core.redaction import REDACTED
from app.gateway import NetValveClient, Outcome, RefundBody, build_http_client, redact
from tests.support.gateway import (
    API_KEY,
    BACKOFFICE_URL,
    BO_PASSWORD,
    JWT,
    PAYMENT_TOKEN,
    PAYMENT_URL,
    FakeClock,
    FakeSleep,
    approved_body,
    declined_body,
    json_response,
    make_settings,
    sale_request,
)

SALE = f"{PAYMENT_URL}/sale"
INQUIRY = f"{PAYMENT_URL}/inquiry"


class TestNotSent:
    @pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
    async def test_retried_then_reported_as_not_sent(
        self,
        gateway: NetValveClient,
        router: respx.MockRouter,
        sleep: FakeSleep,
        error: type[httpx.TransportError],
    ) -> None:
        route = router.post(SALE).mock(side_effect=error)
        result = await gateway.sale(sale_request())
        assert route.call_count == 3
        assert result.attempts == 3
        assert result.outcome is Outcome.UNAVAILABLE
        assert result.request_sent is False
        assert not result.is_uncertain
        assert sleep.delays == [pytest.approx(0.1), pytest.approx(0.2)]
        assert result.message is not None
        assert result.message.startswith("request not sent")

    async def test_read_call_retried_on_connect_error(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.get(INQUIRY).mock(
            side_effect=[httpx.ConnectError("refused"), json_response(200, approved_body())]
        )
        result = await gateway.inquiry(1001)
        assert route.call_count == 2
        assert result.outcome is Outcome.APPROVED
        assert result.request_sent is True

    async def test_no_retries_configured(
        self, make_gateway: Callable[..., NetValveClient], router: respx.MockRouter, sleep: FakeSleep
    ) -> None:
        route = router.get(INQUIRY).mock(side_effect=httpx.ConnectError)
        result = await make_gateway(netvalve_max_retries=0).inquiry(1)
        assert route.call_count == 1
        assert sleep.delays == []
        assert result.outcome is Outcome.UNAVAILABLE


def cancelled(request: httpx.Request) -> httpx.Response:
    raise asyncio.CancelledError


class TestCircuitBreaker:
    async def open_circuit(self, gateway: NetValveClient, router: respx.MockRouter) -> respx.Route:
        route = router.post(SALE).mock(side_effect=httpx.ReadTimeout)
        for _ in range(3):
            result = await gateway.sale(sale_request())
            assert result.outcome is Outcome.UNKNOWN
        return route

    async def test_opens_after_threshold_and_fails_fast(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = await self.open_circuit(gateway, router)
        assert route.call_count == 3
        assert gateway.circuit.state == "open"

        result = await gateway.sale(sale_request())

        assert route.call_count == 3
        assert result.outcome is Outcome.UNAVAILABLE
        assert result.request_sent is False
        assert result.attempts == 0
        assert result.message == "circuit open: NetValve failed 3 times in a row, retrying after 30.0s"

    async def test_fails_fast_for_reads_too(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        await self.open_circuit(gateway, router)
        inquiry = router.get(INQUIRY).mock(return_value=json_response(200, approved_body()))
        result = await gateway.inquiry(1001)
        assert inquiry.call_count == 0
        assert result.outcome is Outcome.UNAVAILABLE

    async def test_half_open_probe_success_closes(
        self, gateway: NetValveClient, router: respx.MockRouter, clock: FakeClock
    ) -> None:
        route = await self.open_circuit(gateway, router)
        clock.advance(29.9)
        assert (await gateway.sale(sale_request())).request_sent is False
        clock.advance(0.2)
        assert gateway.circuit.state == "half_open"
        route.mock(side_effect=None, return_value=json_response(200, approved_body()))

        probe = await gateway.sale(sale_request())
        after = await gateway.sale(sale_request())

        assert probe.outcome is Outcome.APPROVED
        assert after.outcome is Outcome.APPROVED
        assert route.call_count == 5
        assert (gateway.circuit.state, gateway.circuit.failures) == ("closed", 0)

    async def test_half_open_probe_failure_reopens(
        self, gateway: NetValveClient, router: respx.MockRouter, clock: FakeClock
    ) -> None:
        route = await self.open_circuit(gateway, router)
        clock.advance(31)
        probe = await gateway.sale(sale_request())
        assert probe.outcome is Outcome.UNKNOWN
        assert route.call_count == 4
        assert gateway.circuit.state == "open"

        again = await gateway.sale(sale_request())
        assert again.request_sent is False
        assert route.call_count == 4
        assert again.message is not None
        assert "failed 4 times in a row" in again.message

    async def test_cancelled_probe_frees_the_probe_slot(
        self, gateway: NetValveClient, router: respx.MockRouter, clock: FakeClock
    ) -> None:
        route = await self.open_circuit(gateway, router)
        clock.advance(31)
        route.mock(side_effect=cancelled)
        with pytest.raises(asyncio.CancelledError):
            await gateway.sale(sale_request())
        route.mock(side_effect=None, return_value=json_response(200, approved_body()))
        result = await gateway.sale(sale_request())
        assert result.outcome is Outcome.APPROVED
        assert gateway.circuit.state == "closed"

    async def test_declines_count_as_answers(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        route = router.post(SALE).mock(
            side_effect=[
                httpx.ReadTimeout("t"),
                httpx.ReadTimeout("t"),
                json_response(200, declined_body("BNK_2011", "SOFT DECLINE")),
                json_response(400, [{"responseCode": "GTW_2034"}]),
                httpx.ReadTimeout("t"),
                httpx.ReadTimeout("t"),
                json_response(200, approved_body()),
            ]
        )
        outcomes = [(await gateway.sale(sale_request())).outcome for _ in range(7)]
        assert outcomes[-1] is Outcome.APPROVED
        assert route.call_count == 7
        assert gateway.circuit.state == "closed"

    async def test_unavailable_answers_open_it(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.post(SALE).mock(return_value=httpx.Response(502, text="<html/>"))
        for _ in range(4):
            await gateway.sale(sale_request())
        assert route.call_count == 3
        assert gateway.circuit.state == "open"

    async def test_connect_failures_open_it_within_one_call(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        route = router.get(INQUIRY).mock(side_effect=httpx.ConnectError)
        await gateway.inquiry(1)
        assert route.call_count == 3
        assert gateway.circuit.state == "open"

    async def test_pool_timeouts_do_not_open_it(
        self, gateway: NetValveClient, router: respx.MockRouter
    ) -> None:
        router.get(INQUIRY).mock(side_effect=httpx.PoolTimeout)
        await gateway.inquiry(1)
        await gateway.inquiry(1)
        assert gateway.circuit.state == "closed"

    async def test_breaker_is_per_instance(
        self, gateway: NetValveClient, make_gateway: Callable[..., NetValveClient], router: respx.MockRouter
    ) -> None:
        route = await self.open_circuit(gateway, router)
        route.mock(side_effect=None, return_value=json_response(200, approved_body()))
        assert (await make_gateway().sale(sale_request())).outcome is Outcome.APPROVED


def record_text(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + repr(record.__dict__)


class TestLogging:
    async def test_sale_logs_one_structured_line_without_secrets(
        self, gateway: NetValveClient, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="app.gateway")
        router.post(SALE).mock(
            return_value=json_response(
                200,
                approved_body(
                    paymentToken=PAYMENT_TOKEN,
                    redirectUrl=f"https://checkout.nv.test?paymentToken={JWT}",
                    responseMessage=f"Approved for token {PAYMENT_TOKEN} jwt {JWT}",
                ),
            )
        )

        result = await gateway.sale(sale_request())

        assert result.outcome is Outcome.APPROVED
        records = [r for r in caplog.records if r.name.startswith("app.gateway")]
        assert len(records) == 1
        record = records[0]
        assert record.levelno == logging.INFO
        assert record.__dict__["operation"] == "sale"
        assert record.__dict__["method"] == "POST"
        assert record.__dict__["path"] == "/sale"
        assert record.__dict__["status"] == 200
        assert record.__dict__["outcome"] == "approved"
        assert record.__dict__["code"] == "GTW_1000"
        assert record.__dict__["transaction_id"] == 1001
        assert isinstance(record.__dict__["duration_ms"], float)
        for secret in (API_KEY, PAYMENT_TOKEN, JWT):
            assert secret not in record_text(record)
            assert secret not in caplog.text
            assert result.message is not None
            assert secret not in result.message

    async def test_failures_and_retries_log_no_secrets(
        self, gateway: NetValveClient, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="app.gateway")
        hpf_src = f"https://sdk.nv.test/i.js?paymentToken={PAYMENT_TOKEN}&jwtToken={JWT}"
        router.get(f"{PAYMENT_URL}/hpf/initializeSession").mock(
            side_effect=[
                httpx.Response(503),
                json_response(
                    200, {"responseCode": "GTW_1003", "netvalveScriptSrc": hpf_src, "paymentToken": "p"}
                ),
            ]
        )
        router.post(SALE).mock(
            return_value=json_response(
                400, [{"responseCode": "GTW_2034", "responseMessage": f"bad token {PAYMENT_TOKEN} / {JWT}"}]
            )
        )
        router.post(f"{BACKOFFICE_URL}/backoffice/users/sign-in").mock(
            return_value=json_response(200, {"accessToken": "bo-secret-token"})
        )
        router.get(f"{BACKOFFICE_URL}/backoffice/hpf/script").mock(return_value=json_response(200, []))

        await gateway.initialize_hpf_session()
        await gateway.sale(sale_request())
        await gateway.backoffice_hpf_scripts()

        assert caplog.records
        for record in caplog.records:
            text = record_text(record)
            for secret in (API_KEY, PAYMENT_TOKEN, JWT, BO_PASSWORD, "bo-secret-token"):
                assert secret not in text
        assert any(
            r.levelno == logging.WARNING and r.__dict__.get("code") == "GTW_2034" for r in caplog.records
        )


class TestRedact:
    def test_masks_secrets_at_any_depth(self) -> None:
        masked = redact(
            {
                "paymentToken": "p",
                "jwtToken": "j",
                "netvalve-api-key": "k",
                "Authorization": "Basic abc",
                "nested": {"accessToken": "a", "password": "pw", "apiKey": "k2", "token": "t"},
                "cards": [{"cardNumber": "4012000098765439"}, {"cardNumber": "401200******5439"}],
                "cvv": "123",
                "cardSecurityCode": "999",
                "url": f"https://sdk.nv.test/i.js?version=1&jwtToken={JWT}",
                "note": f"Bearer abc.def and {JWT}",
                "amount": 12,
            }
        )
        assert masked["paymentToken"] == REDACTED
        assert masked["jwtToken"] == REDACTED
        assert masked["netvalve-api-key"] == REDACTED
        assert masked["Authorization"] == REDACTED
        assert set(masked["nested"].values()) == {REDACTED}
        assert masked["cards"] == [{"cardNumber": REDACTED}, {"cardNumber": "401200******5439"}]
        assert masked["cvv"] == REDACTED
        assert masked["cardSecurityCode"] == REDACTED
        assert masked["url"] == f"https://sdk.nv.test/i.js?version=1&jwtToken={REDACTED}"
        assert JWT not in masked["note"]
        assert "abc.def" not in masked["note"]
        assert masked["amount"] == 12


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class TestMetrics:
    async def test_one_count_per_call(self, gateway: NetValveClient, router: respx.MockRouter) -> None:
        labels = {"operation": "refund", "outcome": "already_refunded"}
        before = sample("netvalve_gateway_requests_total", labels)
        seconds_before = sample("netvalve_gateway_request_seconds_count", {"operation": "refund"})
        router.post(f"{PAYMENT_URL}/refund").mock(
            return_value=json_response(200, declined_body("GTW_2045", "SOFT DECLINE"))
        )
        await gateway.refund(RefundBody(transaction_id=1))
        await gateway.refund(RefundBody(transaction_id=1))

        assert sample("netvalve_gateway_requests_total", labels) == before + 2
        assert sample("netvalve_gateway_request_seconds_count", {"operation": "refund"}) == seconds_before + 2


class TestHttpClient:
    async def test_timeouts_and_limits_from_settings(self) -> None:
        settings = make_settings(
            netvalve_connect_timeout_seconds=1.5,
            netvalve_read_timeout_seconds=25.0,
            netvalve_write_timeout_seconds=7.0,
            netvalve_pool_timeout_seconds=2.5,
            netvalve_max_connections=17,
        )
        async with build_http_client(settings) as http:
            assert http.timeout == httpx.Timeout(connect=1.5, read=25.0, write=7.0, pool=2.5)
            assert http.follow_redirects is False
            pool = http._transport._pool  # type: ignore[attr-defined]
            assert pool._max_connections == 17
