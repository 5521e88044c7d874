"""Storefront requests counted per fixed window, in PostgreSQL so that every replica shares one count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class RateLimitHit(Base):
    """Requests one bucket (an address, a publishable key) made in one window.

    Unlogged: a count lost with a crash only forgives part of one window, and the hottest row of the
    storefront path then costs no WAL."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (
        Index("ix_rate_limit_hits_window_start", "window_start"),
        {"prefixes": ["UNLOGGED"]},
    )

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
