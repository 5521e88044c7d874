"""Every NetValve webhook delivery we accepted, de-duplicated, with its processing state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin


class WebhookEventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    PENDING = "pending"
    NOT_SUPPORTED = "not_supported"
    REJECTED = "rejected"
    ATTENTION = "attention"


class WebhookEvent(TimestampMixin, Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        Index(
            "ix_webhook_events_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('received', 'pending')"),
        ),
        Index("ix_webhook_events_netvalve_transaction_id", "netvalve_transaction_id"),
        Index("ix_webhook_events_client_order_id", "client_order_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False, server_default="netvalve")
    event_name: Mapped[str] = mapped_column(String(64), nullable=False)
    netvalve_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    client_order_id: Mapped[str | None] = mapped_column(String(128))
    trace_id: Mapped[str | None] = mapped_column(String(128))
    payment_session_id: Mapped[str | None] = mapped_column(String(128))
    medusa_action: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default=WebhookEventStatus.RECEIVED
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    raw_body: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    source_ip: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
