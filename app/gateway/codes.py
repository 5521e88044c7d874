"""NetValve's codes as data: what each response code, code type and HTTP status means (``Outcome``), the
reasons a caller can act on (``Refusal``) and the transaction types (``TxnKind``).

Precedence for a code and its type (``classify_code``):
1. a success code of the operation (and a code type that does not contradict it) -> APPROVED;
2. an exact code in ``CODE_OUTCOMES``;
3. a decline ``responseCodeType``;
4. a code range in ``CODE_RANGE_OUTCOMES`` (every ``BNK_*`` code is a decline, ``BNK_2000`` included);
5. ``responseCodeType`` PENDING;
6. otherwise UNKNOWN: an answer we cannot read is never taken for success.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from app.gateway.operations import Operation


class Outcome(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    SOFT_DECLINE = "soft_decline"
    HARD_DECLINE = "hard_decline"
    # A capture refused because the issuer released the authorization (it lapsed, netvalve-api.md §5.4).
    AUTHORIZATION_EXPIRED = "authorization_expired"
    ALREADY_CAPTURED = "already_captured"
    ALREADY_REFUNDED = "already_refunded"
    ALREADY_CANCELLED = "already_cancelled"
    DUPLICATE_ORDER = "duplicate_order"
    NOT_FOUND = "not_found"
    VALIDATION_ERROR = "validation_error"
    AUTH_ERROR = "auth_error"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"
    MISMATCH = "mismatch"


DECLINES: Final = frozenset({Outcome.SOFT_DECLINE, Outcome.HARD_DECLINE, Outcome.AUTHORIZATION_EXPIRED})
# Answers after which NetValve certainly did nothing: the previous state stands.
NOTHING_HAPPENED: Final = frozenset(
    {Outcome.VALIDATION_ERROR, Outcome.AUTH_ERROR, Outcome.RATE_LIMITED, Outcome.NOT_FOUND}
)
# Look-up results that say nothing about the transaction looked up.
NO_ANSWER: Final = frozenset({Outcome.UNAVAILABLE, Outcome.UNKNOWN, Outcome.RATE_LIMITED, Outcome.AUTH_ERROR})
# "Already done" answers: the operation happened before, which is success.
ALREADY_DONE: Final = frozenset(
    {Outcome.ALREADY_CAPTURED, Outcome.ALREADY_REFUNDED, Outcome.ALREADY_CANCELLED}
)


class Refusal(StrEnum):
    """Why NetValve refused a request it read, where the caller can act on the reason."""

    EXCEEDS_AUTHORIZED = "exceeds_authorized"
    EXCEEDS_CAPTURED = "exceeds_captured"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 (a reason, not a credential)
    # A merchant-initiated charge NetValve declined: the stored card has no approved initial CIT it knows of.
    NO_INITIAL_CIT = "no_initial_cit"


REFUSAL_CODES: Final[Mapping[str, Refusal]] = MappingProxyType(
    {"GTW_2124": Refusal.EXCEEDS_AUTHORIZED, "GTW_2108": Refusal.EXCEEDS_CAPTURED}
)


# Declines whose reason is the request's, not the card's.
DECLINE_REFUSALS: Final[Mapping[str, Refusal]] = MappingProxyType({"GTW_2081": Refusal.NO_INITIAL_CIT})


def refusal(outcome: Outcome, code: str | None, message: str | None) -> Refusal | None:
    """The actionable reason of a validation refusal (NetValve names the payment token only in its text) or
    of a decline for the request's own reason."""
    if outcome in DECLINES:
        return DECLINE_REFUSALS.get((code or "").strip().upper())
    if outcome is not Outcome.VALIDATION_ERROR:
        return None
    if code is not None and code.strip().upper() in REFUSAL_CODES:
        return REFUSAL_CODES[code.strip().upper()]
    if message is not None and "paymenttoken" in message.replace(" ", "").lower():
        return Refusal.INVALID_TOKEN
    return None


DEFAULT_SUCCESS_CODES: Final = frozenset({"GTW_1000", "GTW_1001"})
# "Device data not collected" / "ACS not completed by user": asked before the shopper's browser finished.
THREEDS_NOT_COMPLETED_CODES: Final = frozenset({"3DS_2010", "3DS_2011"})

# Codes that mean success only for some operations; everything else uses DEFAULT_SUCCESS_CODES. For a 3-D
# Secure call, success means an answer to read: its provider status says what it means (``threeds``), so
# the not-completed codes are read too, and fail the authentication only with a final status.
SUCCESS_CODES_BY_OPERATION: Final[Mapping[Operation, frozenset[str]]] = MappingProxyType(
    {
        Operation.INITIALIZE_HPF_SESSION: DEFAULT_SUCCESS_CODES | {"GTW_1003"},
        Operation.THREEDS_INITIALIZE: DEFAULT_SUCCESS_CODES | {"3DS_1000"},
        Operation.THREEDS_AUTHENTICATE: DEFAULT_SUCCESS_CODES | {"3DS_1000"} | THREEDS_NOT_COMPLETED_CODES,
        Operation.THREEDS_RESULT: DEFAULT_SUCCESS_CODES | {"3DS_1000"} | THREEDS_NOT_COMPLETED_CODES,
    }
)

CODE_OUTCOMES: Final[Mapping[str, Outcome]] = MappingProxyType(
    {
        "GTW_1002": Outcome.PENDING,
        "GTW_2045": Outcome.ALREADY_REFUNDED,
        "GTW_2046": Outcome.ALREADY_CAPTURED,
        "GTW_2047": Outcome.ALREADY_CANCELLED,
        "GTW_2065": Outcome.DUPLICATE_ORDER,
        "GTW_2070": Outcome.DUPLICATE_ORDER,
        "GTW_2103": Outcome.NOT_FOUND,
        # "Amount No Longer Available": NetValve documents no code for a lapsed authorization, and this is
        # what a capture meets once the issuer released the hold. A decline for every operation; the
        # ledger reads it as a lapse only on a capture.
        "BNK_2001": Outcome.AUTHORIZATION_EXPIRED,
        # Amount and field rules: our request was wrong, the card was not tried.
        "GTW_2002": Outcome.VALIDATION_ERROR,
        "GTW_2003": Outcome.VALIDATION_ERROR,
        "GTW_2004": Outcome.VALIDATION_ERROR,
        "GTW_2007": Outcome.VALIDATION_ERROR,
        "GTW_2008": Outcome.VALIDATION_ERROR,
        "GTW_2009": Outcome.VALIDATION_ERROR,
        "GTW_2048": Outcome.VALIDATION_ERROR,
        "GTW_2059": Outcome.VALIDATION_ERROR,
        "GTW_2085": Outcome.VALIDATION_ERROR,
        "GTW_2092": Outcome.VALIDATION_ERROR,
        "GTW_2093": Outcome.VALIDATION_ERROR,
        "GTW_2107": Outcome.VALIDATION_ERROR,
        "GTW_2108": Outcome.VALIDATION_ERROR,
        "GTW_2123": Outcome.VALIDATION_ERROR,
        "GTW_2124": Outcome.VALIDATION_ERROR,
        "SMR_2001": Outcome.VALIDATION_ERROR,
        "GTW_9001": Outcome.AUTH_ERROR,
        "GTW_9002": Outcome.AUTH_ERROR,
        "GTW_9003": Outcome.AUTH_ERROR,
        "GTW_2082": Outcome.AUTH_ERROR,
        # NetValve timed out towards the bank: the charge may or may not exist.
        "GTW_2054": Outcome.UNKNOWN,
        "GTW_9999": Outcome.UNAVAILABLE,
    }
)


@dataclass(frozen=True)
class CodeRange:
    prefix: str
    low: int
    high: int
    outcome: Outcome


# First match wins.
CODE_RANGE_OUTCOMES: Final[tuple[CodeRange, ...]] = (
    CodeRange("BNK_", 3000, 3999, Outcome.HARD_DECLINE),
    CodeRange("BNK_", 0, 9999, Outcome.SOFT_DECLINE),
    CodeRange("GTW_", 2010, 2031, Outcome.VALIDATION_ERROR),
    CodeRange("GTW_", 4000, 4999, Outcome.HARD_DECLINE),
    CodeRange("FRD_", 0, 9999, Outcome.HARD_DECLINE),
)

DECLINE_TYPE_OUTCOMES: Final[Mapping[str, Outcome]] = MappingProxyType(
    {
        "SOFT DECLINE": Outcome.SOFT_DECLINE,
        "HARD DECLINE": Outcome.HARD_DECLINE,
        "DECLINE": Outcome.SOFT_DECLINE,
        "DECLINED": Outcome.SOFT_DECLINE,
    }
)
PENDING_TYPES: Final = frozenset({"PENDING"})
APPROVED_TYPES: Final = frozenset({"APPROVED"})

# Decided by the HTTP status alone, whatever the body says.
HTTP_STATUS_OUTCOMES: Final[Mapping[int, Outcome]] = MappingProxyType(
    {401: Outcome.AUTH_ERROR, 403: Outcome.AUTH_ERROR, 429: Outcome.RATE_LIMITED}
)
# Used for a non-2xx status whose body carries no code we recognise.
HTTP_FALLBACK_OUTCOMES: Final[Mapping[int, Outcome]] = MappingProxyType(
    {400: Outcome.VALIDATION_ERROR, 404: Outcome.NOT_FOUND, 422: Outcome.VALIDATION_ERROR}
)
# Outcomes an error answer (array body or non-2xx status) cannot carry as such.

_CODE = re.compile(r"^([A-Z0-9]+_)(\d+)$")


class TxnKind(StrEnum):
    """A transaction's type, normalised once (NetValve writes ``transactionType`` in several spellings)."""

    SALE = "sale"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    REFUND = "refund"
    CANCEL = "cancel"
    OTHER = "other"


_TXN_KINDS: Final[Mapping[str, TxnKind]] = MappingProxyType(
    {
        "SALE": TxnKind.SALE,
        "PURCHASE": TxnKind.SALE,
        "AUTHORIZATION": TxnKind.AUTHORIZATION,
        "AUTHORISATION": TxnKind.AUTHORIZATION,
        "AUTHORIZE": TxnKind.AUTHORIZATION,
        "CAPTURE": TxnKind.CAPTURE,
        "REFUND": TxnKind.REFUND,
        "CANCEL": TxnKind.CANCEL,
        "CANCELLATION": TxnKind.CANCEL,
        "VOID": TxnKind.CANCEL,
    }
)
PAYMENT_KINDS: Final = frozenset({TxnKind.SALE, TxnKind.AUTHORIZATION})


def txn_kind(value: str | None) -> TxnKind:
    return _TXN_KINDS.get((value or "").strip().upper(), TxnKind.OTHER)


def success_codes_for(operation: Operation) -> frozenset[str]:
    return SUCCESS_CODES_BY_OPERATION.get(operation, DEFAULT_SUCCESS_CODES)


def _normalise_type(code_type: str | None) -> str | None:
    if not code_type:
        return None
    return " ".join(code_type.replace("_", " ").upper().split())


def _range_outcome(code: str) -> Outcome | None:
    match = _CODE.match(code)
    if match is None:
        return None
    prefix, number = match.group(1), int(match.group(2))
    for rule in CODE_RANGE_OUTCOMES:
        if rule.prefix == prefix and rule.low <= number <= rule.high:
            return rule.outcome
    return None


def classify_code(
    code: str | None,
    code_type: str | None,
    success_codes: frozenset[str] = DEFAULT_SUCCESS_CODES,
) -> Outcome:
    """Outcome of a ``responseCode`` / ``responseCodeType`` pair, ignoring transport and HTTP."""
    code = code.strip().upper() if code else None
    kind = _normalise_type(code_type)
    if code in success_codes:
        return Outcome.APPROVED if kind is None or kind in APPROVED_TYPES else Outcome.UNKNOWN
    if code is not None and code in CODE_OUTCOMES:
        return CODE_OUTCOMES[code]
    if kind is not None and kind in DECLINE_TYPE_OUTCOMES:
        return DECLINE_TYPE_OUTCOMES[kind]
    if code is not None and (ranged := _range_outcome(code)) is not None:
        return ranged
    if kind in PENDING_TYPES:
        return Outcome.PENDING
    return Outcome.UNKNOWN
