"""The exact JSON of NetValve's bodies: money never passes through ``float``.

Request bodies are encoded by ``encode_json``: every ``Decimal`` is written as a JSON number with exactly
two decimals (``12.50``). Responses are decoded with ``decode_json`` (``parse_float=Decimal``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Final

# NetValve takes amounts with two decimals: a currency with more cannot always be sent exactly.
AMOUNT_DECIMALS: Final = 2
CENT = Decimal(1).scaleb(-AMOUNT_DECIMALS)


def check_amount(amount: Decimal) -> Decimal:
    """Return ``amount`` if NetValve may be sent it; never rounds (money is not ours to round)."""
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    if amount <= 0:
        raise ValueError(f"amount must be greater than zero, got {amount}")
    try:
        exact = amount == amount.quantize(CENT)
    except InvalidOperation:
        raise ValueError("amount is too large") from None
    if not exact:
        raise ValueError(f"amount {amount} has more than two decimal places; refusing to round money")
    return amount


def to_amount(value: object) -> Decimal:
    # bool is an int and float is inexact: both are bugs in the caller, not amounts.
    if isinstance(value, bool | float):
        raise ValueError("amounts must be Decimal, int or str, never float or bool")
    if isinstance(value, Decimal):
        return check_amount(value)
    if isinstance(value, int):
        return check_amount(Decimal(value))
    if isinstance(value, str):
        try:
            return check_amount(Decimal(value.strip()))
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
    raise ValueError(f"unsupported amount type {type(value).__name__}")


def money_token(amount: Decimal) -> str:
    """The JSON number token for ``amount``: plain notation, exactly two decimals."""
    return format(check_amount(amount).quantize(CENT), "f")


def encode_json(value: object) -> bytes:
    """Compact JSON where every ``Decimal`` is a two-decimal money token; ``float`` is refused."""
    return _encode(value).encode("utf-8")


def _encode(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return money_token(value)
    if isinstance(value, Enum):
        return _encode(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        raise TypeError("refusing to encode a float into a NetValve request; use Decimal")
    if isinstance(value, Mapping):
        items = ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _refuse_constant(name: str) -> object:
    raise ValueError(f"invalid JSON constant {name}")


def decode_json(raw: bytes | str) -> Any:
    """Parse a NetValve body; JSON numbers with a fraction become ``Decimal``, never ``float``."""
    return json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
