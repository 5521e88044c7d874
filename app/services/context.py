"""What every part of the payment service works with, wired once per request or job."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.gateway import NetValveClient
from app.services.carts import Carts
from app.services.ledger import Ledger


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    # Look-ups that change nothing run without a transaction around them (autocommit).
    reads: async_sessionmaker[AsyncSession]
    carts: Carts
    ledger: Ledger
    gateway: NetValveClient

    @property
    def one_statement(self) -> async_sessionmaker[AsyncSession]:
        """A write that is one statement commits by itself: no BEGIN and COMMIT round trips around it."""
        return self.reads

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.ledger.sessionmaker
