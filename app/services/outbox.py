"""Deliver queued Medusa actions: signed JSON POSTs, every attempt recorded, capped exponential backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.models import OutboxStatus, WebhookOutbox
from app.repositories.webhooks import WebhookRepository
from app.services.webhook_service import WEBHOOKS, backoff_seconds

logger = logging.getLogger(__name__)

DELIVERY_LEASE = timedelta(seconds=120)
RESPONSE_BODY_LIMIT = 1024


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class OutboxDelivery:
    def __init__(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], http: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.http = http

    async def deliver_due(self, limit: int) -> int:
        """Attempt up to ``limit`` due forwards; returns how many were attempted."""
        if not self.settings.medusa_webhook_url:
            return 0
        async with self.sessionmaker.begin() as db:
            rows = await WebhookRepository(db).claim_due_outbox(limit, DELIVERY_LEASE)
        for row in rows:
            await self._deliver(row)
        return len(rows)

    async def _deliver(self, row: WebhookOutbox) -> None:
        url = self.settings.medusa_webhook_url
        assert url is not None
        body = json.dumps(row.payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"content-type": "application/json", "x-netvalve-timestamp": timestamp}
        secret = self.settings.medusa_webhook_secret
        if secret is not None:
            headers["x-netvalve-signature"] = sign(secret.get_secret_value(), timestamp, body)
        started = time.monotonic()
        status: int | None = None
        text: str | None = None
        error: str | None = None
        try:
            response = await self.http.post(
                url, content=body, headers=headers, timeout=self.settings.medusa_webhook_timeout_seconds
            )
            status = response.status_code
            text = response.text[:RESPONSE_BODY_LIMIT]
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        duration_ms = int((time.monotonic() - started) * 1000)

        now = datetime.now(UTC)
        attempts = row.attempts + 1
        if error is None:
            outcome, next_at, delivered_at = OutboxStatus.DELIVERED, None, now
            WEBHOOKS.labels("forwarded").inc()
        elif attempts >= self.settings.medusa_webhook_max_attempts:
            outcome, next_at, delivered_at = OutboxStatus.FAILED, None, None
            WEBHOOKS.labels("forward_failed").inc()
            logger.error("giving up forwarding to Medusa", extra={"outbox_id": row.id})
        else:
            outcome = OutboxStatus.PENDING
            next_at = now + timedelta(seconds=backoff_seconds(self.settings, attempts))
            delivered_at = None
        async with self.sessionmaker.begin() as db:
            repo = WebhookRepository(db)
            await repo.record_attempt(
                row.id, http_status=status, response_body=text, error=error, duration_ms=duration_ms
            )
            await repo.finish_outbox(
                row.id,
                status=outcome,
                http_status=status,
                error=error,
                next_attempt_at=next_at,
                delivered_at=delivered_at,
            )
