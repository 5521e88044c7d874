"""Who a caller is, and the pure checks behind it: constant-time secret comparison, the publishable key's
format, and a bounded memo of Medusa's verdict on a key. The FastAPI dependencies that use them, and the
Medusa lookup, live in ``app.api.auth``: nothing here reaches the database."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

# Medusa v2 makes a publishable key as "pk_" + 32 random bytes in hex; a little slack for other generators,
# none for the megabyte an attacker may send: anything else is refused before a query or a cache entry.
PUBLISHABLE_KEY_MAX_LENGTH = 128
_PUBLISHABLE_KEY = re.compile(r"pk_[0-9A-Za-z_-]{16,125}")


class CallerKind(StrEnum):
    SERVICE = "service"
    STOREFRONT = "storefront"


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller. A storefront caller carries its publishable key's id and the sales channels
    Medusa links to that key; ``sales_channel_ids`` is None when nothing restricts the caller (a service key,
    or ``STOREFRONT_AUTH=none`` in development)."""

    kind: CallerKind
    key_id: str
    sales_channel_ids: frozenset[str] | None = None

    def may_use_sales_channel(self, sales_channel_id: str | None) -> bool:
        """Whether a cart of this sales channel belongs to the caller: Medusa's own rule for store routes."""
        if self.sales_channel_ids is None:
            return True
        return sales_channel_id is not None and sales_channel_id in self.sales_channel_ids


def matches_any(candidate: str, secrets: list[SecretStr]) -> bool:
    """Constant-time comparison against every configured secret (rotation allows several)."""
    given = candidate.encode()
    found = False
    for secret in secrets:
        # No early exit: the time taken does not tell which key, or whether any, matched.
        found |= hmac.compare_digest(given, secret.get_secret_value().encode())
    return found


def is_well_formed_publishable_key(token: str) -> bool:
    return len(token) <= PUBLISHABLE_KEY_MAX_LENGTH and _PUBLISHABLE_KEY.fullmatch(token) is not None


class PublishableKeyCache:
    """Medusa's recent verdicts on publishable keys (a ``Caller``, or None for a refused key), so checkout
    requests do not each query ``api_key``. Keyed by the key's SHA-256, never the key itself, and bounded:
    past ``max_entries`` the least recently used verdict goes. Refused keys are kept apart, each kind bounded
    on its own, so that an attacker's random keys only ever push out other refused keys, never a real one."""

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._valid: OrderedDict[bytes, tuple[float, Caller]] = OrderedDict()
        self._refused: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._valid) + len(self._refused)

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> tuple[bool, Caller | None]:
        digest = self._digest(token)
        now = time.monotonic()
        if (valid := self._valid.get(digest)) is not None:
            if valid[0] < now:
                del self._valid[digest]
                return False, None
            self._valid.move_to_end(digest)
            return True, valid[1]
        if (refused_until := self._refused.get(digest)) is not None:
            if refused_until < now:
                del self._refused[digest]
                return False, None
            self._refused.move_to_end(digest)
            return True, None
        return False, None

    def put(self, token: str, caller: Caller | None) -> None:
        if self._ttl <= 0 or self._max_entries <= 0:
            return
        digest = self._digest(token)
        expires = time.monotonic() + self._ttl
        if caller is None:
            self._valid.pop(digest, None)
            self._refused[digest] = expires
            self._refused.move_to_end(digest)
            while len(self._refused) > self._max_entries:
                self._refused.popitem(last=False)
            return
        self._refused.pop(digest, None)
        self._valid[digest] = (expires, caller)
        self._valid.move_to_end(digest)
        while len(self._valid) > self._max_entries:
            self._valid.popitem(last=False)
