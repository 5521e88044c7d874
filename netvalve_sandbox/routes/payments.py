"""Payment API: sale, authorize, capture, refund, cancel and the inquiry/transaction/order lookups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from netvalve_sandbox.dto import created_token, order_output, transaction_output
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.state import TxType
from netvalve_sandbox.validation import (
    cancel_request,
    capture_request,
    charge_request,
    create_token_request,
    parse_transaction_id,
    refund_request,
)
from netvalve_sandbox.wire import NetvalveJSONResponse, now, parse_json_object

TransactionIdQuery = Annotated[str | None, Query(alias="transactionId")]
IdQuery = Annotated[str | None, Query(alias="id")]
ClientOrderIdQuery = Annotated[str | None, Query(alias="clientOrderId")]


def payments_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(dependencies=[Depends(sandbox.api_auth)], tags=["payment API"])
    gateway, ledger = sandbox.gateway, sandbox.ledger

    async def charge(request: Request, tx_type: TxType) -> Response:
        charge = charge_request(parse_json_object(await request.body()))
        async with ledger.lock:
            return sandbox.respond(gateway.charge(charge, tx_type, decline=sandbox.forced_decline(request)))

    @router.post("/sale")
    async def sale(request: Request) -> Response:
        """Authorize and capture in one step."""
        return await charge(request, TxType.SALE)

    @router.post("/authorize")
    async def authorize(request: Request) -> Response:
        """Authorize only; capture or cancel later."""
        return await charge(request, TxType.AUTHORIZATION)

    @router.post("/createToken")
    async def create_token(request: Request) -> Response:
        """Tokenize a card (fields or an HPF token); `verify: true` runs a $0 authorization first."""
        body = create_token_request(parse_json_object(await request.body()))
        async with ledger.lock:
            txn, issued = gateway.create_token(body, decline=sandbox.forced_decline(request))
            if txn is not None:
                return sandbox.respond(txn)
            assert issued is not None
            return NetvalveJSONResponse(created_token(issued, now()))

    @router.post("/capture")
    async def capture(request: Request) -> Response:
        """Capture an approved authorization, fully or partially with `finalCapture`."""
        body = capture_request(parse_json_object(await request.body()))
        async with ledger.lock:
            return sandbox.respond(gateway.capture(body, decline=sandbox.forced_decline(request)))

    @router.post("/refund")
    async def refund(request: Request) -> Response:
        """Refund a sale or capture; without `amount` the whole remainder."""
        body = refund_request(parse_json_object(await request.body()))
        async with ledger.lock:
            return sandbox.respond(gateway.refund(body, decline=sandbox.forced_decline(request)))

    @router.post("/cancel")
    async def cancel(request: Request) -> Response:
        """Void an approved, uncaptured authorization."""
        transaction_id = cancel_request(parse_json_object(await request.body()))
        async with ledger.lock:
            return sandbox.respond(gateway.cancel(transaction_id, decline=sandbox.forced_decline(request)))

    @router.get("/inquiry")
    async def inquiry(raw_id: TransactionIdQuery = None) -> Response:
        """The transaction's current `TransactionResponseDTO`."""
        transaction_id = parse_transaction_id(raw_id, "transactionId")
        async with ledger.lock:
            gateway.settle_due()
            return sandbox.respond(gateway.find(transaction_id))

    @router.post("/inquiry")
    async def inquiry_post(request: Request) -> Response:
        """POST variant some integrations fall back to."""
        body = parse_json_object(await request.body())
        raw = body.get("transactionId", body.get("transactionID"))
        return await inquiry(None if raw is None else str(raw))

    @router.get("/transaction")
    async def transaction(raw_id: IdQuery = None) -> Response:
        """`TransactionOutputDTO`-like detail with status, allowed actions and related transactions."""
        transaction_id = parse_transaction_id(raw_id, "id")
        async with ledger.lock:
            gateway.settle_due()
            return NetvalveJSONResponse(
                transaction_output(gateway.find(transaction_id), ledger, sandbox.settings)
            )

    @router.get("/order")
    async def order(
        client_order_id: ClientOrderIdQuery = None,
        raw_order_id: IdQuery = None,
        raw_transaction_id: TransactionIdQuery = None,
    ) -> Response:
        """`OrderOutputDTO`-like order by `clientOrderId`, `id` or `transactionId`."""
        order_id = None if raw_order_id is None else parse_transaction_id(raw_order_id, "id")
        transaction_id = (
            None if raw_transaction_id is None else parse_transaction_id(raw_transaction_id, "transactionId")
        )
        async with ledger.lock:
            gateway.settle_due()
            found = gateway.find_order(
                order_id=order_id, client_order_id=client_order_id, transaction_id=transaction_id
            )
            return NetvalveJSONResponse(order_output(found, ledger))

    return router
