"""Sandbox-only control surface under `/_sandbox`: knobs, webhooks, ledger, chargebacks, reset."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import Response

from netvalve_sandbox.dto import chargeback_body, ledger_entry, token_entry
from netvalve_sandbox.faults import Knobs
from netvalve_sandbox.runtime import Sandbox
from netvalve_sandbox.state import Chargeback
from netvalve_sandbox.wire import NetvalveJSONResponse, now


class ClockRequest(BaseModel):
    offset_seconds: float = Field(ge=0, le=400 * 24 * 3600)


class ChargebackRequest(BaseModel):
    transactionId: int
    amount: Decimal | None = Field(default=None, gt=0)
    type: str = "Chargeback"
    source: str = "CB-Alert"


def _clock(sandbox: Sandbox) -> dict[str, object]:
    return {
        "offset_seconds": sandbox.gateway.clock_offset.total_seconds(),
        "today": sandbox.gateway.today().isoformat(),
        "authorization_lifetime_days": sandbox.settings.authorization_lifetime_days,
    }


def control_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    @router.get("/health")
    async def health() -> Response:
        return NetvalveJSONResponse({"status": "ok"})

    @router.get("/knobs")
    async def get_knobs() -> Response:
        return NetvalveJSONResponse(sandbox.faults.knobs.model_dump())

    @router.get("/held")
    async def held() -> Response:
        """Requests received and held by their latency right now, per path."""
        return NetvalveJSONResponse({path: n for path, n in sandbox.faults.held.items() if n})

    @router.put("/knobs")
    async def put_knobs(request: Request) -> Response:
        """Replace the run-level knobs; fields left out take their settings defaults."""
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise TypeError("a JSON object is required")
            knobs = Knobs.model_validate(sandbox.settings.default_knobs().model_dump() | body)
        except ValidationError as exc:
            return NetvalveJSONResponse({"detail": json.loads(exc.json())}, status_code=422)
        except (ValueError, TypeError) as exc:
            return NetvalveJSONResponse({"detail": str(exc)}, status_code=422)
        sandbox.set_knobs(knobs)
        return NetvalveJSONResponse(knobs.model_dump())

    @router.get("/webhooks")
    async def webhooks() -> Response:
        """Every emitted event and every delivery attempt, oldest first."""
        dispatcher = sandbox.webhooks
        return NetvalveJSONResponse(
            {
                "events": dispatcher.events,
                "deliveries": [attempt.as_json() for attempt in dispatcher.deliveries],
                "pending": dispatcher.pending,
            }
        )

    @router.post("/webhooks/drain")
    async def drain(wait_seconds: Annotated[float, Query(alias="timeout", ge=0, le=600)] = 5.0) -> Response:
        """Wait until the queue is empty (held out-of-order webhooks are released first)."""
        drained = await sandbox.webhooks.drain(wait_seconds)
        return NetvalveJSONResponse({"drained": drained, "pending": sandbox.webhooks.pending})

    @router.get("/transactions")
    async def transactions() -> Response:
        async with sandbox.ledger.lock:
            sandbox.gateway.settle_due()
            rows = [ledger_entry(txn, sandbox.ledger) for txn in sandbox.ledger.transactions.values()]
        return NetvalveJSONResponse(rows)

    @router.get("/tokens")
    async def tokens() -> Response:
        """Every gateway token issued, oldest first, with its masked card and what issued it."""
        async with sandbox.ledger.lock:
            rows = [token_entry(issued) for issued in sandbox.ledger.gateway_tokens.values()]
        return NetvalveJSONResponse(rows)

    @router.get("/threeds")
    async def threeds() -> Response:
        """Every 3-D Secure authentication, oldest first, with what its calls received."""
        async with sandbox.ledger.lock:
            rows = [session.inspection() for session in sandbox.ledger.threeds_sessions.values()]
        return NetvalveJSONResponse(rows)

    @router.post("/chargeback")
    async def chargeback(request: ChargebackRequest) -> Response:
        """Raise a chargeback on a transaction, as NetValve's dispute desk would: recorded on the transaction
        (its `GET /transaction` shows it in `chargebackData`), then a `CHARGEBACK` webhook. The amount
        defaults to the transaction's, `type` is the `chargebackTransactionType`. Answers the body sent."""
        async with sandbox.ledger.lock:
            txn = sandbox.ledger.transactions.get(request.transactionId)
            if txn is None:
                return NetvalveJSONResponse({"detail": "no such transaction"}, status_code=404)
            moment = now()
            recorded = Chargeback(
                id=f"CB-{uuid.uuid4().hex[:12].upper()}",
                type=request.type,
                source=request.source,
                amount=(request.amount or txn.amount).quantize(Decimal("0.01")),
                created_at=moment,
            )
            txn.chargebacks.append(recorded)
            body = chargeback_body(txn, recorded, sandbox.settings, moment)
        sandbox.webhooks.emit(body)
        return NetvalveJSONResponse(body)

    @router.get("/clock")
    async def get_clock() -> Response:
        return NetvalveJSONResponse(_clock(sandbox))

    @router.put("/clock")
    async def put_clock(request: ClockRequest) -> Response:
        """Run the gateway's calendar ahead of the wall clock by `offset_seconds`: an authorization older than
        `authorization_lifetime_days` by that calendar has lapsed, and its capture is declined `BNK_2001`.
        `/_sandbox/reset` sets it back to 0."""
        async with sandbox.ledger.lock:
            sandbox.gateway.clock_offset = timedelta(seconds=request.offset_seconds)
            return NetvalveJSONResponse(_clock(sandbox))

    @router.post("/reset")
    async def reset() -> Response:
        """Forget every transaction, order, token and webhook; knobs return to their defaults."""
        await sandbox.reset()
        return NetvalveJSONResponse({"reset": True})

    return router
