"""Money: ``Decimal`` from the request to the wire, integer minor units in our tables."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

# ISO 4217 exponents that differ from 2 (the same lists Medusa's Stripe provider uses).
_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905
)
_THREE_DECIMAL = frozenset("BHD IQD JOD KWD OMR TND".split())  # noqa: SIM905


class AmountError(ValueError):
    """An amount that is not a finite, positive decimal with the currency's precision."""


def currency_exponent(currency: str) -> int:
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def parse_amount(value: Any) -> Decimal:
    """Accept what Medusa sends: a number, a decimal string, or ``{"value": "12.5", "precision": 20}``."""
    if isinstance(value, dict):
        if "value" not in value:
            raise AmountError("amount object needs a 'value'")
        value = value["value"]
    if isinstance(value, bool) or value is None:
        raise AmountError("amount must be a number or a decimal string")
    if isinstance(value, float):
        # repr() is the shortest string that round-trips, so 19.99 stays 19.99 rather than 19.989999…
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise AmountError(f"not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise AmountError("amount must be finite")
    return amount


def to_minor(amount: Decimal, currency: str) -> int:
    """Major units to integer minor units, for amounts NetValve states (never more precise than the currency);
    refuses sub-minor precision. Medusa's amounts go through ``round_to_minor``."""
    exponent = currency_exponent(currency)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise AmountError(f"{amount} has more decimals than {currency.upper()} allows ({exponent})")
    return int(scaled)


def round_to_minor(amount: Decimal, currency: str) -> int:
    """Medusa's exact amount in the currency's minor units, rounded half up: the one rounding rule.

    Medusa keeps totals with more decimals than the currency has (19 % tax on 19.99 plus 5.00 shipping is
    29.7381 EUR) and leaves rounding to its payment providers, which round half up to the minor unit
    (``getSmallestUnit`` of Medusa's Stripe provider); NetValve is sent what this returns."""
    exponent = currency_exponent(currency)
    return int(amount.scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor(minor: int, currency: str) -> Decimal:
    exponent = currency_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))
