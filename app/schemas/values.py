"""The value types of the routes' models: Medusa's ids, NetValve's transaction ids as Medusa can carry
them, and amounts in every form Medusa writes them, documented exactly as they are accepted."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from app.core.money import parse_amount

MedusaId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
# Ids arrive from Medusa, a JavaScript application, which carries integers exactly only up to 2**53 - 1; the
# bound is also exact as a JSON Schema number (2**63 - 1, BIGINT's limit, would round up to 2**63).
MAX_SAFE_INTEGER = 2**53 - 1
NetValveTransactionId = Annotated[int, Field(gt=0, le=MAX_SAFE_INTEGER)]
# Positive decimals only, so "0" and "0.00" are refused by the documented pattern as well as by the model.
# Up to 20 decimals: Medusa's BigNumber writes its raw value at its precision (20): "1.2300000000000000000".
_DECIMAL_STRING = r"^(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,20})?|0?\.0{0,19}[1-9][0-9]{0,19})$"
_MAX_AMOUNT = Decimal("999999999999")
_AMOUNT_VALUE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": int(_MAX_AMOUNT)},
        {"type": "string", "pattern": _DECIMAL_STRING},
    ]
}
_AMOUNT_SCHEMA: dict[str, Any] = {
    "description": "A number, a decimal string, or Medusa's {value, precision}",
    "anyOf": [
        *_AMOUNT_VALUE_SCHEMA["anyOf"],
        {
            "type": "object",
            "required": ["value"],
            "properties": {"value": _AMOUNT_VALUE_SCHEMA, "precision": {"type": "integer"}},
        },
    ],
}


def _documented_amount(value: Any) -> Decimal:
    """Accept exactly the forms ``_AMOUNT_SCHEMA`` documents, then parse them as Medusa sends them."""
    inner = value.get("value") if isinstance(value, dict) else value
    precision = value.get("precision", 0) if isinstance(value, dict) else 0
    if isinstance(precision, bool) or not (
        isinstance(precision, int) or (isinstance(precision, float) and precision.is_integer())
    ):
        raise ValueError("amount precision must be an integer")
    if isinstance(inner, str) and not re.fullmatch(_DECIMAL_STRING, inner):
        raise ValueError("amount string must be a positive decimal like '12.50'")
    if not isinstance(inner, str | int | float) or isinstance(inner, bool):
        raise ValueError("amount must be a number, a decimal string or {value, precision}")
    return parse_amount(value)


PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(_documented_amount),
    Field(gt=0, le=_MAX_AMOUNT),
    WithJsonSchema(_AMOUNT_SCHEMA),
]

# A request's rule "exactly one of cart_id and payment_collection_id" (``netvalve.PayerIds``), stated in its
# schema.
ONE_PAYER_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("cart_id", "payment_collection_id")
    ]
}
