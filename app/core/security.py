"""Who a caller is, and the pure checks behind it. The FastAPI dependencies that authenticate callers, and
the Medusa lookup of publishable keys, live in ``app.api.auth``: nothing here reaches the database."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr


class CallerKind(StrEnum):
    SERVICE = "service"
    STOREFRONT = "storefront"


@dataclass(frozen=True)
class Caller:
    kind: CallerKind
    key_id: str


def matches_any(candidate: str, secrets: list[SecretStr]) -> bool:
    """Constant-time comparison against every configured secret (rotation allows several)."""
    given = candidate.encode()
    found = False
    for secret in secrets:
        # No early exit: the time taken does not tell which key, or whether any, matched.
        found |= hmac.compare_digest(given, secret.get_secret_value().encode())
    return found


class PublishableKeyCache:
    """Short-lived memo of Medusa's answer, so checkout requests do not each query ``api_key``."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, str | None]] = {}

    def get(self, token: str) -> tuple[bool, str | None]:
        entry = self._entries.get(token)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, token: str, key_id: str | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token] = (time.monotonic() + self._ttl, key_id)
