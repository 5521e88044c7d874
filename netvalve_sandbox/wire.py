"""JSON on the wire: exact Decimal money, NetValve timestamps and request bodies."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from netvalve_sandbox.codes import MESSAGES, code_type
from netvalve_sandbox.errors import FieldError, ValidationFailed

CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


def dumps(value: object) -> str:
    """Compact JSON where every Decimal is money written with exactly two decimals, never via float."""
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(key))}:{dumps(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


class NetvalveJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def now() -> datetime:
    return datetime.now(UTC)


def api_timestamp(moment: datetime) -> str:
    """API responses carry milliseconds and an explicit offset, e.g. `2024-11-26T04:09:49.657+00:00`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def webhook_timestamp(moment: datetime) -> str:
    """Webhooks carry a naive UTC timestamp, e.g. `2025-10-30T06:52:46.440287`."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def new_trace_id() -> str:
    return str(uuid.uuid4())


def status_body(code: str) -> dict[str, Any]:
    """The minimal single-object body NetValve sends when it refuses an operation."""
    return {
        "traceID": new_trace_id(),
        "responseTimestamp": api_timestamp(now()),
        "responseCode": code,
        "responseMessage": MESSAGES[code],
        "responseCodeType": code_type(code),
    }


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body with Decimal numbers; anything but a JSON object is a validation error."""
    try:
        value = json.loads(raw or b"null", parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError:
        raise ValidationFailed(
            [FieldError("GTW_2063", "requestBody", "Malformed JSON request body.")]
        ) from None
    if not isinstance(value, dict):
        raise ValidationFailed([FieldError("GTW_2063", "requestBody", "A JSON object is required.")])
    return value
