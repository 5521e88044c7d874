"""SQL for the webhook pipeline: ``webhook_events`` (inbox) and ``webhook_outbox`` (forwards to Medusa)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.session import fetch_on_driver
from app.models import OutboxStatus, WebhookEvent, WebhookEventStatus, WebhookOutbox, WebhookOutboxAttempt

DUE_STATUSES = (WebhookEventStatus.RECEIVED, WebhookEventStatus.PENDING)

# The inbox INSERT is the hottest statement of the service: every NetValve delivery, inside a 5-second budget.
# SQLAlchemy builds it from the model once; it then runs on the pool's own asyncpg connection as a single
# autocommitted round trip, without the per-statement work of a Session (bench/results.md has the numbers).
_EVENT_COLUMNS = (
    "dedup_key",
    "event_name",
    "netvalve_transaction_id",
    "client_order_id",
    "trace_id",
    "medusa_action",
    "status",
    "raw_body",
    "payload",
    "headers",
    "source_ip",
)
_JSON_COLUMNS = frozenset({"payload", "headers"})
_INSERT_EVENT = (
    insert(WebhookEvent)
    .values({name: bindparam(name) for name in _EVENT_COLUMNS})
    .on_conflict_do_nothing(index_elements=[WebhookEvent.dedup_key])
    .returning(WebhookEvent.id)
)
_LOCK_EVENT = (
    select(WebhookEvent)
    .where(WebhookEvent.id == bindparam("event_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _json_text(value: Any) -> str:
    # Text is JSON already (the delivery's own body): PostgreSQL parses it, nothing is encoded again.
    return value if isinstance(value, str) else json.dumps(value)


async def store_event(engine: AsyncEngine, values: Mapping[str, Any]) -> int | None:
    """Store one delivery, committed when this returns; None when its de-duplication key is already stored.

    JSON columns take an object or its JSON text."""
    args = {name: _json_text(value) if name in _JSON_COLUMNS else value for name, value in values.items()}
    rows = await fetch_on_driver(engine, _INSERT_EVENT, args)
    return int(rows[0][0]) if rows else None


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- inbox ------------------------------------------------------------------------------------

    async def claim_due_events(self, limit: int, lease: timedelta) -> Sequence[WebhookEvent]:
        """Lease up to ``limit`` due events (other replicas skip them until the lease runs out)."""
        due = (
            select(WebhookEvent.id)
            .where(WebhookEvent.status.in_(DUE_STATUSES), WebhookEvent.next_attempt_at <= func.now())
            .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=func.now() + lease)
            .returning(WebhookEvent)
            .execution_options(synchronize_session=False)
        )
        return sorted(result.scalars().all(), key=lambda event: event.id)

    async def lock_event(self, event_id: int) -> WebhookEvent | None:
        result = await self.session.execute(_LOCK_EVENT, {"event_id": event_id})
        return result.scalar_one_or_none()

    async def list_events(self, statuses: Sequence[str], limit: int) -> Sequence[WebhookEvent]:
        query = select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)
        if statuses:
            query = query.where(WebhookEvent.status.in_(statuses))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def queue_replay(self, event_id: int) -> WebhookEvent | None:
        """Make an event due now (the worker picks it up on its next pass); None when there is no such
        event. Unsupported events stay unsupported: there is nothing to apply."""
        event = await self.lock_event(event_id)
        if event is None:
            return None
        if event.status != WebhookEventStatus.NOT_SUPPORTED:
            event.status = WebhookEventStatus.PENDING
        event.next_attempt_at = datetime.now(UTC)
        event.last_error = None
        return event

    # --- outbox -----------------------------------------------------------------------------------

    async def insert_outbox(self, values: dict[str, Any]) -> int | None:
        """Queue one forward; None when the same action was already queued."""
        statement = (
            insert(WebhookOutbox)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[WebhookOutbox.dedup_key])
            .returning(WebhookOutbox.id)
        )
        result = await self.session.execute(statement)
        return result.scalar_one_or_none()

    async def claim_due_outbox(self, limit: int, lease: timedelta) -> Sequence[WebhookOutbox]:
        due = (
            select(WebhookOutbox.id)
            .where(WebhookOutbox.status == OutboxStatus.PENDING, WebhookOutbox.next_attempt_at <= func.now())
            .order_by(WebhookOutbox.next_attempt_at, WebhookOutbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            update(WebhookOutbox)
            .where(WebhookOutbox.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=func.now() + lease)
            .returning(WebhookOutbox)
            .execution_options(synchronize_session=False)
        )
        return sorted(result.scalars().all(), key=lambda row: row.id)

    async def record_attempt(
        self,
        outbox_id: int,
        *,
        http_status: int | None,
        response_body: str | None,
        error: str | None,
        duration_ms: int,
    ) -> None:
        self.session.add(
            WebhookOutboxAttempt(
                outbox_id=outbox_id,
                http_status=http_status,
                response_body=response_body,
                error=error,
                duration_ms=duration_ms,
            )
        )
        await self.session.flush()

    async def finish_outbox(
        self,
        outbox_id: int,
        *,
        status: str,
        http_status: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
        delivered_at: datetime | None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "attempts": WebhookOutbox.attempts + 1,
            "last_http_status": http_status,
            "last_error": error,
            "delivered_at": delivered_at,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        await self.session.execute(
            update(WebhookOutbox).where(WebhookOutbox.id == outbox_id).values(**values)
        )
