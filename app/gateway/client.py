"""``NetValveClient``: NetValve's verbs, each one call with its URL and headers, sent by the transport
(``transport``: retries that cannot charge twice) and read by ``outcomes``."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Final

import httpx

from app.core.config import Settings
from app.gateway.answers import HpfSession, OrderDetails, TransactionDetails
from app.gateway.backoffice import Backoffice, BackofficeScript, pick_active_script
from app.gateway.operations import Operation
from app.gateway.result import CallSpec, GatewayResult
from app.gateway.threeds import (
    ThreeDSAuthRequest,
    ThreeDSInitRequest,
    ThreeDSProviderResponse,
    ThreeDSResultRequest,
    parse_provider_response,
)
from app.gateway.transport import CircuitBreaker, Transport
from app.gateway.wire import (
    CancelBody,
    CaptureBody,
    CreateTokenRequest,
    HppOrderRequest,
    RefundBody,
    SaleRequest,
    WireRequest,
)

_TRANSACTION_IDENTITY: Final = frozenset({"netvalveID", "netvalveId", "id"})
_ORDER_IDENTITY: Final = frozenset({"id", "transactions", "orderAmount", "orderState", "hppOrderStatus"})


class NetValveClient:
    """The only code that calls NetValve.

    Built over the app's shared ``httpx.AsyncClient`` (see ``transport.build_http_client``). ``sleep``,
    ``clock`` (monotonic seconds) and ``rng`` (uniform [0, 1)) are injectable for tests.
    """

    pick_active_script = staticmethod(pick_active_script)

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._transport = Transport(
            http, settings, sleep=sleep, clock=clock, rng=rng, credentials=self._credentials
        )
        self._backoffice = Backoffice(self._transport, settings, clock)

    @property
    def circuit(self) -> CircuitBreaker:
        return self._transport.circuit

    # --- payment API ---------------------------------------------------------------------------

    async def initialize_hpf_session(self) -> GatewayResult[HpfSession]:
        """``GET /hpf/initializeSession``: script URL, integrity and tokens for Token Fields."""
        headers, problem = self._payment_headers(json_body=False)
        return await self._transport.call(
            CallSpec[HpfSession](
                operation=Operation.INITIALIZE_HPF_SESSION,
                method="GET",
                url=self._payment_url("/hpf/initializeSession"),
                headers=headers,
                config_error=problem,
                parse_details=HpfSession.model_validate,
            )
        )

    async def sale(self, req: SaleRequest) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.SALE, self._payment_url("/sale"), req, amount=req.amount, currency=req.currency
        )

    async def authorize(self, req: SaleRequest) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.AUTHORIZE,
            self._payment_url("/authorize"),
            req,
            amount=req.amount,
            currency=req.currency,
        )

    async def create_token(self, req: CreateTokenRequest) -> GatewayResult[None]:
        """``POST /createToken``: the result's ``issued_card`` holds the gateway token. It creates state at
        NetValve (and with ``verify`` an authorization), so like a sale it is never re-sent once sent."""
        return await self._post_transaction(Operation.CREATE_TOKEN, self._payment_url("/createToken"), req)

    async def capture(self, req: CaptureBody) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.CAPTURE,
            self._payment_url("/capture"),
            req,
            reference=req.transaction_id,
            amount=req.amount,
        )

    async def refund(self, req: RefundBody) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.REFUND,
            self._payment_url("/refund"),
            req,
            reference=req.transaction_id,
            amount=req.amount,
        )

    async def cancel(self, req: CancelBody) -> GatewayResult[None]:
        return await self._post_transaction(
            Operation.CANCEL, self._payment_url("/cancel"), req, reference=req.transaction_id
        )

    async def create_hpp_order(self, req: HppOrderRequest) -> GatewayResult[None]:
        """``POST {hpp}/hpp/order`` with the payment API's key headers (NetValve documents no bearer)."""
        return await self._post_transaction(
            Operation.CREATE_HPP_ORDER,
            self._settings.hpp_order_url,
            req,
            amount=req.amount,
            currency=req.currency,
        )

    async def inquiry(self, transaction_id: int) -> GatewayResult[None]:
        """``GET /inquiry``: the transaction's current response; its outcome is the transaction's."""
        headers, problem = self._payment_headers(json_body=False)
        return await self._transport.call(
            CallSpec[None](
                operation=Operation.INQUIRY,
                method="GET",
                url=self._payment_url("/inquiry"),
                headers=headers,
                config_error=problem,
                params={"transactionId": str(transaction_id)},
                reference=transaction_id,
            )
        )

    async def get_transaction(self, transaction_id: int) -> GatewayResult[TransactionDetails]:
        headers, problem = self._payment_headers(json_body=False)
        return await self._transport.call(
            CallSpec[TransactionDetails](
                operation=Operation.GET_TRANSACTION,
                method="GET",
                url=self._payment_url("/transaction"),
                headers=headers,
                config_error=problem,
                params={"id": str(transaction_id)},
                reference=transaction_id,
                kind="details",
                parse_details=TransactionDetails.model_validate,
                identity_keys=_TRANSACTION_IDENTITY,
            )
        )

    async def get_order(self, client_order_id: str) -> GatewayResult[OrderDetails]:
        headers, problem = self._payment_headers(json_body=False)
        return await self._transport.call(
            CallSpec[OrderDetails](
                operation=Operation.GET_ORDER,
                method="GET",
                url=self._payment_url("/order"),
                headers=headers,
                config_error=problem,
                params={"clientOrderId": client_order_id},
                reference=client_order_id,
                kind="details",
                parse_details=OrderDetails.model_validate,
                identity_keys=_ORDER_IDENTITY,
            )
        )

    # --- 3-D Secure v2: no money moves, so an unanswered call is retried like a look-up -------------

    async def threeds_initialize(self, req: ThreeDSInitRequest) -> GatewayResult[ThreeDSProviderResponse]:
        return await self._post_threeds(Operation.THREEDS_INITIALIZE, "/3ds/v2/initialization", req)

    async def threeds_authenticate(self, req: ThreeDSAuthRequest) -> GatewayResult[ThreeDSProviderResponse]:
        return await self._post_threeds(Operation.THREEDS_AUTHENTICATE, "/3ds/authentication", req)

    async def threeds_result(self, req: ThreeDSResultRequest) -> GatewayResult[ThreeDSProviderResponse]:
        return await self._post_threeds(Operation.THREEDS_RESULT, "/3ds/result", req)

    async def _post_threeds(
        self, operation: Operation, path: str, req: WireRequest
    ) -> GatewayResult[ThreeDSProviderResponse]:
        headers, problem = self._payment_headers(json_body=True)
        return await self._transport.call(
            CallSpec[ThreeDSProviderResponse](
                operation=operation,
                method="POST",
                url=self._payment_url(path),
                headers=headers,
                config_error=problem,
                body=req.to_wire(),
                parse_details=parse_provider_response,
                secrets=req.secret_values(),
            )
        )

    # --- backoffice API (undocumented by NetValve) ----------------------------------------------

    async def backoffice_hpf_scripts(self) -> GatewayResult[list[BackofficeScript]]:
        """``GET /backoffice/hpf/script`` with a cached bearer token; one re-sign-in on a 401."""
        return await self._backoffice.hpf_scripts()

    # --- headers -------------------------------------------------------------------------------

    def _credentials(self) -> tuple[str, ...]:
        settings = self._settings
        values = (
            settings.netvalve_api_key.get_secret_value() if settings.netvalve_api_key else None,
            settings.netvalve_basic_auth_password.get_secret_value()
            if settings.netvalve_basic_auth_password
            else None,
            self._backoffice.token,
        )
        return tuple(value for value in values if value)

    def _payment_url(self, path: str) -> str:
        return self._settings.payment_api_url + path

    def _payment_headers(self, *, json_body: bool) -> tuple[dict[str, str], str | None]:
        """Auth headers of the payment and HPP APIs, and what is missing from settings, if anything."""
        settings = self._settings
        headers = {"Accept": "application/json"}
        if json_body:
            headers["Content-Type"] = "application/json"
        missing: list[str] = []
        if settings.netvalve_client_id:
            headers["netvalve-client-id"] = settings.netvalve_client_id
        else:
            missing.append("NETVALVE_CLIENT_ID")
        if settings.netvalve_payment_auth == "basic":
            user, password = settings.netvalve_basic_auth_username, settings.netvalve_basic_auth_password
            if user and password:
                pair = f"{user}:{password.get_secret_value()}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
            else:
                missing.append("NETVALVE_BASIC_AUTH_USERNAME/PASSWORD")
        elif settings.netvalve_api_key is not None:
            headers["netvalve-api-key"] = settings.netvalve_api_key.get_secret_value()
        else:
            missing.append("NETVALVE_API_KEY")
        problem = f"NetValve credentials not configured: {', '.join(missing)}" if missing else None
        return headers, problem

    async def _post_transaction(
        self,
        operation: Operation,
        url: str,
        req: WireRequest,
        *,
        reference: int | None = None,
        amount: Decimal | None = None,
        currency: str | None = None,
    ) -> GatewayResult[None]:
        body = req.to_wire()
        headers, problem = self._payment_headers(json_body=True)
        return await self._transport.call(
            CallSpec[None](
                operation=operation,
                method="POST",
                url=url,
                headers=headers,
                config_error=problem,
                body=body,
                reference=reference,
                expect_amount=amount,
                expect_currency=currency,
                secrets=req.secret_values(),
            )
        )
