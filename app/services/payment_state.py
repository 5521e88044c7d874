"""The one table of which operation each payment status allows, and where each outcome leads."""

from __future__ import annotations

from app.models import Operation, PaymentStatus

S = PaymentStatus
O = Operation  # noqa: E741

# (status, operation) pairs that may reach NetValve. Anything else is refused with 409 and no call,
# except the idempotent answers in ``ALREADY_DONE``.
ALLOWED: frozenset[tuple[PaymentStatus, Operation]] = frozenset(
    {
        (S.REQUIRES_MORE, O.SALE),
        (S.REQUIRES_MORE, O.AUTHORIZE),
        (S.ERROR, O.SALE),
        (S.ERROR, O.AUTHORIZE),
        (S.AUTHORIZED, O.CAPTURE),
        (S.AUTHORIZED, O.CANCEL),
        (S.CAPTURED, O.REFUND),
        (S.REFUNDED, O.REFUND),
    }
)

# Requests that ask for what already happened: success, no gateway call.
ALREADY_DONE: frozenset[tuple[PaymentStatus, Operation]] = frozenset(
    {
        (S.CAPTURED, O.CAPTURE),
        (S.REFUNDED, O.CAPTURE),
        (S.DISPUTED, O.CAPTURE),
        (S.CANCELED, O.CANCEL),
    }
)

# Where an approved operation leads.
ON_APPROVED: dict[Operation, PaymentStatus] = {
    O.SALE: S.CAPTURED,
    O.AUTHORIZE: S.AUTHORIZED,
    O.CAPTURE: S.CAPTURED,
    O.REFUND: S.REFUNDED,
    O.CANCEL: S.CANCELED,
}

TERMINAL: frozenset[PaymentStatus] = frozenset({S.CANCELED})

# Forward order for events that arrive in any order: a webhook may move a payment only forward.
RANK: dict[PaymentStatus, int] = {
    S.REQUIRES_MORE: 0,
    S.ERROR: 1,
    S.PENDING: 2,
    S.UNKNOWN: 2,
    S.AUTHORIZED: 3,
    S.CAPTURED: 4,
    S.REFUNDED: 5,
    S.CANCELED: 5,
    S.DISPUTED: 6,
}


def is_allowed(status: PaymentStatus, operation: Operation) -> bool:
    return (status, operation) in ALLOWED


def is_already_done(status: PaymentStatus, operation: Operation) -> bool:
    return (status, operation) in ALREADY_DONE


def is_forward(current: PaymentStatus, target: PaymentStatus) -> bool:
    if current in TERMINAL:
        return False
    return RANK[target] > RANK[current]
