"""Every money-moving operation against every way NetValve can fail to answer.

For each (operation, fault): the API answers as the README ("Payments: what the service guarantees") says
(a request that left us and got no usable answer is ``unknown``, 202; one that certainly did nothing is
503), the ledger row says the same, reconciliation with the fault removed settles it to what the sandbox's
own ledger holds, and retries (same Idempotency-Key, then a new one) never make NetValve move money twice."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from app.models import CallOutcome, PaymentStatus
from tests.support.processes import FaultStack, SandboxServer, open_fault_stack, wait_until

AMOUNT = Decimal("42.00")


@dataclass(frozen=True)
class Fault:
    """How the sandbox misbehaves, and what that must mean for the payment.

    ``knobs`` None means the sandbox server is stopped (connection refused). ``applied``: NetValve
    did the operation although the answer never arrived intact. ``uncertain``: the request left us,
    so the service cannot know and must answer ``unknown``; otherwise nothing happened and it answers
    503 (with ``retry_after`` when NetValve named one)."""

    name: str
    knobs: dict[str, Any] | None
    applied: bool
    uncertain: bool
    retry_after: str | None = None


FAULTS = [
    # The sandbox sleeps before running the operation: the service's read timeout fires first and the
    # charge lands afterwards, while nobody is listening.
    Fault("read_timeout_latency", {"latency_ms": 1000}, applied=True, uncertain=True),
    Fault("read_timeout_before_commit", {"fault": "timeout", "fault_after_commit": False}, False, True),
    Fault("read_timeout_after_commit", {"fault": "timeout", "fault_after_commit": True}, True, True),
    Fault("connection_refused", None, applied=False, uncertain=False),
    Fault("http_500_before_commit", {"fault": "error=500", "fault_after_commit": False}, False, True),
    Fault("http_500_after_commit", {"fault": "error=500", "fault_after_commit": True}, True, True),
    Fault("html_502_before_commit", {"fault": "html502", "fault_after_commit": False}, False, True),
    Fault("html_502_after_commit", {"fault": "html502", "fault_after_commit": True}, True, True),
    Fault("malformed_json_before_commit", {"fault": "malformed", "fault_after_commit": False}, False, True),
    Fault("malformed_json_after_commit", {"fault": "malformed", "fault_after_commit": True}, True, True),
    # A 429 is a refusal: NetValve did nothing (an "applied" 429 would contradict what 429 means).
    Fault(
        "rate_limited_429",
        {"fault": "status=429&retry_after=1", "fault_after_commit": False},
        applied=False,
        uncertain=False,
        retry_after="1",
    ),
]


@dataclass
class Operation:
    """One mutating route: how to bring a payment to where it may run, and what it leads to."""

    name: str
    path: str
    sandbox_type: str
    capture_mode: str
    before: PaymentStatus
    after: PaymentStatus
    # What a repeat with a fresh Idempotency-Key answers once the operation happened.
    repeat_status: int
    repeat_code: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def is_pay(self) -> bool:
        return self.name in ("sale", "authorize")


OPERATIONS = [
    Operation("sale", "/sale", "SALE", "sale", PaymentStatus.REQUIRES_MORE, PaymentStatus.CAPTURED, 200),
    Operation(
        "authorize",
        "/authorize",
        "AUTHORIZATION",
        "authorize",
        PaymentStatus.REQUIRES_MORE,
        PaymentStatus.AUTHORIZED,
        200,
    ),
    Operation(
        "capture", "/capture", "CAPTURE", "authorize", PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED, 200
    ),
    Operation(
        "refund",
        "/refund",
        "REFUND",
        "sale",
        PaymentStatus.CAPTURED,
        PaymentStatus.REFUNDED,
        422,
        "refund_exceeds_captured",
    ),
    Operation(
        "cancel", "/cancel", "CANCEL", "authorize", PaymentStatus.AUTHORIZED, PaymentStatus.CANCELED, 200
    ),
]


class Scenario:
    """Drives one operation on one cart; ``perform`` is the request under test."""

    def __init__(self, stack: FaultStack, op: Operation) -> None:
        self.stack = stack
        self.op = op
        self.cart: Any = None
        self.token = ""
        self.transaction_id: int | None = None

    async def prepare(self) -> None:
        stack = self.stack
        self.cart = await stack.cart(amount=AMOUNT)
        self.token = await stack.token_for(self.cart)
        if self.op.is_pay:
            return
        paid = await stack.pay(self.cart, self.token)
        assert paid.status_code == 200, paid.text
        self.transaction_id = await stack.transaction_id(self.cart)
        assert paid.json()["status"] == self.op.before.value

    async def perform(self, key: str | None) -> httpx.Response:
        if self.op.is_pay:
            return await self.stack.pay(self.cart, self.token, key)
        return await self.stack.money(self.op.name, {"transaction_id": self.transaction_id}, key)

    async def count(self) -> int:
        return len(await self.stack.sandbox_transactions(self.op.sandbox_type))


async def _inject(stack: FaultStack, fault: Fault, op: Operation) -> None:
    if fault.knobs is None:
        await stack.server.stop()
    else:
        await stack.knobs(**fault.knobs, fault_paths=[op.path])


async def _remove(stack: FaultStack, fault: Fault) -> None:
    if fault.knobs is None:
        await stack.server.start()
    else:
        await stack.knobs()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
@pytest.mark.parametrize("op", OPERATIONS, ids=[o.name for o in OPERATIONS])
async def test_fault_ends_unknown_or_refused_then_reconciles_without_a_second_charge(
    db: str,
    sandbox_server: SandboxServer,
    nv: httpx.AsyncClient,
    medusa_conn: asyncpg.Connection,
    op: Operation,
    fault: Fault,
) -> None:
    async for stack in open_fault_stack(
        db, sandbox_server, nv, medusa_conn, netvalve_capture_mode=op.capture_mode
    ):
        scenario = Scenario(stack, op)
        await scenario.prepare()
        await _inject(stack, fault, op)

        first = await scenario.perform("key-1")

        # 1. The answer and the ledger row say what the README says.
        payment = await stack.payment(scenario.cart.cart_id)
        calls = await stack.calls(payment.id)
        assert payment.operation_in_flight is None
        if fault.uncertain:
            assert first.status_code == 202, first.text
            assert first.json()["status"] == PaymentStatus.UNKNOWN.value
            assert payment.status == PaymentStatus.UNKNOWN
            assert calls[-1].outcome == CallOutcome.UNKNOWN
        else:
            assert first.status_code == 503, first.text
            assert first.json()["error"]["code"] == "gateway_unavailable"
            assert first.headers.get("retry-after") == fault.retry_after
            assert payment.status == op.before
            expected_call = CallOutcome.NOT_SENT if fault.knobs is None else CallOutcome.REJECTED
            assert calls[-1].outcome == expected_call

        # 2. While the outcome is open, no retry reaches NetValve again.
        if fault.uncertain:
            replay = await scenario.perform("key-1")
            assert replay.status_code == first.status_code
            assert replay.content == first.content
            assert replay.headers["idempotent-replayed"] == "true"
            fresh = await scenario.perform("key-2")
            if op.is_pay:
                assert fresh.status_code == 202, fresh.text
                assert fresh.json()["status"] == PaymentStatus.UNKNOWN.value
            else:
                assert fresh.status_code == 409, fresh.text
                assert fresh.json()["error"]["code"] == "invalid_transition"

        # 3. The fault goes away; NetValve's ledger is the truth reconciliation must reach.
        await _remove(stack, fault)
        if fault.applied:
            await wait_until(functools.partial(_has, scenario, 1))
        else:
            assert await scenario.count() == 0
            await stack.outlive_open_calls()
        reconciled = await stack.reconcile()
        assert reconciled["examined"] == (1 if fault.uncertain else 0), reconciled
        assert reconciled["still_open"] == 0, reconciled
        payment = await stack.payment(scenario.cart.cart_id)
        assert payment.operation_in_flight is None
        assert payment.status == (op.after if fault.applied else op.before)
        if fault.applied:
            assert (await stack.calls(payment.id))[-1].outcome == CallOutcome.APPROVED
            _assert_amounts(payment, op)

        # 4. Retries after the fact: same key, then a new key. Exactly one operation at NetValve.
        again = await scenario.perform("key-1")
        if fault.uncertain:
            assert again.content == first.content
            assert again.headers["idempotent-replayed"] == "true"
        else:
            # A 503 released the key: the same key now runs the operation, once.
            assert again.status_code == 200, again.text
            assert again.json()["status"] == op.after.value
        later = await scenario.perform("key-3")
        if fault.applied or not fault.uncertain:
            assert later.status_code == (200 if op.is_pay else op.repeat_status), later.text
            if op.repeat_code is not None and not op.is_pay:
                assert later.json()["error"]["code"] == op.repeat_code
            elif not op.is_pay:
                assert later.json()["already_done"] is True
        else:
            # NetValve never did it: a new attempt now runs, with a new clientOrderId for a payment.
            assert later.status_code == 200, later.text
            assert later.json()["status"] == op.after.value
        assert await scenario.count() == 1
        final = await stack.payment(scenario.cart.cart_id)
        assert final.status == op.after
        _assert_amounts(final, op)
        if op.is_pay:
            sale_like = await stack.sandbox_transactions(op.sandbox_type)
            assert sale_like[0]["clientOrderId"] == final.client_order_id
            assert final.netvalve_transaction_id == sale_like[0]["transactionID"]


async def _has(scenario: Scenario, count: int) -> bool:
    return await scenario.count() >= count


def _assert_amounts(payment: Any, op: Operation) -> None:
    minor = int(AMOUNT * 100)
    expected = {
        "sale": (minor, minor, 0),
        "authorize": (minor, 0, 0),
        "capture": (minor, minor, 0),
        "refund": (minor, minor, minor),
        "cancel": (minor, 0, 0),
    }[op.name]
    assert (payment.authorized_minor, payment.captured_minor, payment.refunded_minor) == expected
