"""Reading one NetValve answer: the HTTP status, the envelope's code, the body's shape and the echo of
what was sent, turned into an ``Outcome`` (``codes`` holds the tables)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, NamedTuple, TypeVar

import httpx

from app.core.redaction import scrub, secret_values
from app.gateway.answers import TransactionResponse
from app.gateway.codes import (
    DECLINES,
    DEFAULT_SUCCESS_CODES,
    HTTP_FALLBACK_OUTCOMES,
    HTTP_STATUS_OUTCOMES,
    Outcome,
    classify_code,
    success_codes_for,
)
from app.gateway.encoding import decode_json
from app.gateway.result import Attempt, CallSpec

logger = logging.getLogger(__name__)

D = TypeVar("D")

_NOT_FROM_ERROR_ARRAY: Final = frozenset(
    {Outcome.APPROVED, Outcome.PENDING, Outcome.UNKNOWN, Outcome.SOFT_DECLINE, Outcome.HARD_DECLINE}
)


class Classification(NamedTuple):
    outcome: Outcome
    code: str | None
    message: str | None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def envelope_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """``(responseCode, responseCodeType, responseMessage)`` of an object or the first array item."""
    if isinstance(body, list):
        body = next((item for item in body if isinstance(item, Mapping)), None)
    if not isinstance(body, Mapping):
        return None, None, None
    return (
        _text(body.get("responseCode")),
        _text(body.get("responseCodeType")),
        _text(body.get("responseMessage")),
    )


def classify_status(status: int, usable_body: bool) -> Outcome | None:
    """Outcome decided by transport facts alone, or None when the body has to be read."""
    if status in HTTP_STATUS_OUTCOMES:
        return HTTP_STATUS_OUTCOMES[status]
    if status >= 500 or not usable_body:
        return Outcome.UNAVAILABLE
    return None


def classify_response(
    status: int,
    body: Any,
    success_codes: frozenset[str] = DEFAULT_SUCCESS_CODES,
) -> Classification:
    """Classify a NetValve envelope answer. ``body`` is the decoded JSON, or None if unusable."""
    code, code_type, message = envelope_fields(body)
    by_status = classify_status(status, body is not None)
    if by_status is not None:
        if message is None and by_status is Outcome.UNAVAILABLE:
            message = f"HTTP {status} without a usable JSON body"
        return Classification(by_status, code, message)
    if isinstance(body, list):
        if not 400 <= status < 500:
            # An array is NetValve's error shape; on a 2xx it is unreadable, not a rejection.
            return Classification(Outcome.UNKNOWN, code, message or f"HTTP {status} with an array body")
        outcome = classify_code(code, code_type, frozenset())
        if outcome in _NOT_FROM_ERROR_ARRAY:
            outcome = Outcome.VALIDATION_ERROR
        return Classification(outcome, code, message)
    if not isinstance(body, Mapping):
        return Classification(Outcome.UNAVAILABLE, None, f"HTTP {status} with a non-object JSON body")
    outcome = classify_code(code, code_type, success_codes)
    if not 200 <= status < 300 and outcome in _NOT_FROM_ERROR_ARRAY:
        outcome = HTTP_FALLBACK_OUTCOMES.get(status, outcome if outcome in DECLINES else Outcome.UNKNOWN)
    return Classification(outcome, code, message)


def classify_plain(status: int, usable_body: bool) -> Outcome:
    """Outcome of an endpoint without NetValve's envelope (the backoffice API)."""
    by_status = classify_status(status, usable_body)
    if by_status is not None:
        return by_status
    if 200 <= status < 300:
        return Outcome.APPROVED
    return HTTP_FALLBACK_OUTCOMES.get(status, Outcome.UNKNOWN)


def _decode_body(response: httpx.Response) -> Any:
    """Decoded JSON, or None for an empty, HTML/XML or malformed body."""
    raw = response.content
    if not raw.strip():
        return None
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type or "xml" in content_type:
        return None
    try:
        return decode_json(raw)
    except (ValueError, RecursionError):
        return None


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _mismatch(req: CallSpec[Any], response: TransactionResponse) -> str | None:
    if req.expect_amount is not None and response.amount is not None and response.amount != req.expect_amount:
        return f"NetValve approved amount {response.amount} but {req.expect_amount} was sent"
    if (
        req.expect_currency is not None
        and response.currency is not None
        and response.currency.strip().upper() != req.expect_currency.upper()
    ):
        return f"NetValve approved currency {response.currency} but {req.expect_currency} was sent"
    return None


def _scrubbed(response: TransactionResponse, secrets: tuple[str, ...]) -> TransactionResponse:
    texts = {
        "response_message": response.response_message,
        "bank_response_message": response.bank_response_message,
    }
    update = {name: scrub(text, secrets) for name, text in texts.items() if text}
    return response.model_copy(update=update) if update else response


def read_answer(req: CallSpec[D], http_response: httpx.Response) -> Attempt[D]:
    """What one HTTP answer to ``req`` says: the outcome, whether a retry may help, what the breaker hears."""
    status = http_response.status_code
    body = _decode_body(http_response)
    code: str | None = None
    message: str | None = None
    if req.kind == "plain":
        outcome = classify_plain(status, body is not None)
        if outcome is not Outcome.APPROVED:
            message = f"HTTP {status}"
    elif (
        req.kind == "details"
        and 200 <= status < 300
        and isinstance(body, Mapping)
        and any(body.get(key) not in (None, "") for key in req.identity_keys)
    ):
        outcome = Outcome.APPROVED
    else:
        outcome, code, message = classify_response(status, body, success_codes_for(req.operation))

    response: TransactionResponse | None = None
    if req.kind == "envelope" and isinstance(body, Mapping):
        try:
            response = TransactionResponse.model_validate(body)
        except ValueError:
            logger.warning("netvalve %s: response did not match TransactionResponse", req.operation.value)

    details: D | None = None
    shape_error = False
    if outcome is Outcome.APPROVED and req.parse_details is not None:
        try:
            details = req.parse_details(body)
        except ValueError:
            outcome, shape_error = Outcome.UNAVAILABLE, True
            message = "NetValve answered with an unexpected response shape"
    if outcome is Outcome.APPROVED and req.kind == "envelope" and response is None:
        # Approved, but without a readable transaction id the caller must look it up.
        outcome, shape_error = Outcome.UNKNOWN, True
        message = "NetValve approved but the response could not be read"
    if outcome is Outcome.APPROVED and response is not None:
        mismatch = _mismatch(req, response)
        if mismatch is not None:
            outcome, message = Outcome.MISMATCH, mismatch

    # NetValve's free text may echo what we sent or what it issued (tokens): kept out of every repr and log.
    secrets = (*req.secrets, *secret_values(body))
    if message is not None:
        message = scrub(message, secrets)
    if response is not None:
        response = _scrubbed(response, secrets)
    unavailable = outcome is Outcome.UNAVAILABLE and not shape_error
    retryable = not req.mutating and (unavailable or outcome is Outcome.RATE_LIMITED)
    return Attempt[D](
        outcome,
        sent=True,
        breaker="failure" if unavailable else "success",
        retryable=retryable,
        http_status=status,
        code=code,
        message=message,
        response=response,
        details=details,
        retry_after=_parse_retry_after(http_response.headers.get("Retry-After")),
    )
