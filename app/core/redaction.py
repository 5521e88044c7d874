"""Masking of credentials, tokens and card data before anything reaches a log line or an error body."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

REDACTED: Final = "[REDACTED]"

# Compared after lower-casing and dropping '-' and '_', so "netvalve-api-key" == "netvalveApiKey".
SENSITIVE_KEYS: Final = frozenset(
    {
        "paymenttoken",
        "jwttoken",
        "jwt",
        "token",
        "accesstoken",
        "refreshtoken",
        "password",
        "apikey",
        "netvalveapikey",
        "authorization",
        "cardnumber",
        "cardsecuritycode",
        "cvv",
        "cvv2",
        "secret",
        "xpublishableapikey",
        "idempotencykey",
    }
)
_CARD_NUMBER_KEYS: Final = frozenset({"cardnumber"})
_MASKED_PAN = re.compile(r"^\d{0,6}[*xX]+\d{0,4}$")

_TEXT_PATTERNS: Final = (
    # Tokens travel in query strings (HPF script URL, HPP redirect URL).
    (
        re.compile(r"(?i)([?&](?:paymentToken|jwtToken|token|accessToken|access_token)=)[^&#\s]*"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b\d{13,19}\b"), REDACTED),
)


def _normalise_key(key: object) -> str:
    return str(key).lower().replace("-", "").replace("_", "")


def redact_text(text: str) -> str:
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str | None, value: Any) -> Any:
    if key is not None and key in SENSITIVE_KEYS:
        if value in (None, ""):
            return value
        if key in _CARD_NUMBER_KEYS and isinstance(value, str) and _MASKED_PAN.match(value):
            return value
        return REDACTED
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(None, item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_field(key: str, value: Any) -> Any:
    """``value`` as it may be logged under ``key`` (a log record's extra field, a header)."""
    return _redact_value(_normalise_key(key), value)


def redact(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` with credentials, tokens and card data masked at any depth.

    A masked PAN (``401200******5439``) is kept; a full one is not.
    """
    return {str(key): _redact_value(_normalise_key(key), value) for key, value in mapping.items()}


def secret_values(value: Any) -> set[str]:
    """Every string held under a sensitive key in ``value``, at any depth (masked PANs excepted)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str) and item and _redact_value(_normalise_key(key), item) == REDACTED:
                found.add(item)
            else:
                found |= secret_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= secret_values(item)
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each known secret (and anything token-shaped) replaced by ``REDACTED``.

    Secrets shorter than 4 characters are ignored: replacing them would mangle ordinary words.
    """
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return redact_text(text)
