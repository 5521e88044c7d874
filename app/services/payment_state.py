"""The one table of which operation each payment status allows, and where each outcome leads."""

from __future__ import annotations

from app.models import Operation, PaymentStatus, ThreeDSStage

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


T = ThreeDSStage
# 3-D Secure: which stage may follow which (None: no authentication, or one cleared because its call never
# reached NetValve). Every move is made under the payment's row lock; the sale after ``AUTHENTICATED`` goes
# through ``ALLOWED`` like any other.
THREEDS_NEXT: dict[ThreeDSStage | None, frozenset[ThreeDSStage | None]] = {
    None: frozenset({T.INITIALIZING}),
    T.INITIALIZING: frozenset({T.DEVICE_DATA, T.CHALLENGE, T.AUTHENTICATED, T.FAILED, None}),
    T.DEVICE_DATA: frozenset({T.CHALLENGE, T.AUTHENTICATED, T.FAILED}),
    T.CHALLENGE: frozenset({T.AUTHENTICATED, T.FAILED}),
    T.AUTHENTICATED: frozenset({T.INITIALIZING}),
    T.FAILED: frozenset({T.INITIALIZING}),
}
# Stages that wait on the shopper's browser; NetValve's window ends them.
THREEDS_WAITING: frozenset[ThreeDSStage] = frozenset({T.DEVICE_DATA, T.CHALLENGE})
THREEDS_OPEN: frozenset[ThreeDSStage] = THREEDS_WAITING | {T.INITIALIZING}


def threeds_may_move(current: ThreeDSStage | None, target: ThreeDSStage | None) -> bool:
    return target in THREEDS_NEXT[current]


def is_allowed(status: PaymentStatus, operation: Operation) -> bool:
    return (status, operation) in ALLOWED


def is_already_done(status: PaymentStatus, operation: Operation) -> bool:
    return (status, operation) in ALREADY_DONE


def is_forward(current: PaymentStatus, target: PaymentStatus) -> bool:
    if current in TERMINAL:
        return False
    return RANK[target] > RANK[current]
