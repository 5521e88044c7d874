"""Structured logs: one JSON object per line, the request id on every line, secrets masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[REDACTED]"

# Keys whose values are credentials, tokens or card data wherever they appear in structured fields.
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "netvalve-api-key",
        "x-publishable-api-key",
        "api_key",
        "apikey",
        "password",
        "secret",
        "token",
        "accesstoken",
        "paymenttoken",
        "payment_token",
        "jwttoken",
        "jwt_token",
        "cardnumber",
        "card_number",
        "cardsecuritycode",
        "cvv",
        "idempotency-key",
    }
)

# Free-text patterns: bearer/basic credentials, JWTs, long digit runs that could be a PAN.
_TEXT_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b\d{13,19}\b"), REDACTED),
]

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact_text(text: str) -> str:
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """Mask sensitive values in nested structures; a masked PAN (``401200******5439``) is kept."""
    if key is not None and key.lower() in SENSITIVE_KEYS:
        if isinstance(value, str) and "*" in value and key.lower() in ("cardnumber", "card_number"):
            return value
        return REDACTED if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
            "request_id": request_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: redact(v, k)
            for k, v in record.__dict__.items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")
        }
        rid = request_id_var.get()
        line = f"{record.levelname:<7} {record.name}: {redact_text(record.getMessage())}"
        if rid:
            line += f" request_id={rid}"
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        return line


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    # Access lines would duplicate our own request log line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
