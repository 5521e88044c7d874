"""The ledger's one seam from a gateway answer to a call's recorded outcome (``ledger.call_outcome``)."""

from __future__ import annotations

import pytest

from app.gateway import GatewayResult, Operation, Outcome
from app.models import CallOutcome
from app.services.ledger import call_outcome


def result(outcome: Outcome, *, sent: bool = True) -> GatewayResult[None]:
    return GatewayResult[None](
        outcome=outcome,
        operation=Operation.SALE,
        http_status=200 if sent else None,
        code=None,
        message=None,
        response=None,
        details=None,
        request_sent=sent,
        retry_after=None,
        duration_ms=1.0,
    )


@pytest.mark.parametrize(
    ("outcome", "recorded"),
    [
        (Outcome.APPROVED, CallOutcome.APPROVED),
        (Outcome.ALREADY_CAPTURED, CallOutcome.APPROVED),
        (Outcome.ALREADY_REFUNDED, CallOutcome.APPROVED),
        (Outcome.ALREADY_CANCELLED, CallOutcome.APPROVED),
        (Outcome.PENDING, CallOutcome.PENDING),
        (Outcome.SOFT_DECLINE, CallOutcome.DECLINED),
        (Outcome.HARD_DECLINE, CallOutcome.DECLINED),
        (Outcome.VALIDATION_ERROR, CallOutcome.REJECTED),
        (Outcome.AUTH_ERROR, CallOutcome.REJECTED),
        (Outcome.RATE_LIMITED, CallOutcome.REJECTED),
        (Outcome.NOT_FOUND, CallOutcome.REJECTED),
        (Outcome.UNKNOWN, CallOutcome.UNKNOWN),
        (Outcome.UNAVAILABLE, CallOutcome.UNKNOWN),
        (Outcome.MISMATCH, CallOutcome.UNKNOWN),
        (Outcome.DUPLICATE_ORDER, CallOutcome.UNKNOWN),
    ],
)
def test_every_gateway_outcome_of_a_sent_call_is_one_call_outcome(
    outcome: Outcome, recorded: CallOutcome
) -> None:
    assert call_outcome(result(outcome)) is recorded


def test_the_table_covers_every_gateway_outcome() -> None:
    assert {call_outcome(result(outcome)) for outcome in Outcome} <= set(CallOutcome) - {
        CallOutcome.IN_FLIGHT
    }


@pytest.mark.parametrize("outcome", [Outcome.UNAVAILABLE, Outcome.UNKNOWN, Outcome.AUTH_ERROR])
def test_a_call_that_never_left_is_not_sent(outcome: Outcome) -> None:
    assert call_outcome(result(outcome, sent=False)) is CallOutcome.NOT_SENT
