"""SQL for 3-D Secure authentications left open on ``payments``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Payment, ThreeDSStage

OPEN_STAGES = (ThreeDSStage.INITIALIZING, ThreeDSStage.DEVICE_DATA, ThreeDSStage.CHALLENGE)


class ThreeDSRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_before(self, cutoff: datetime, limit: int) -> Sequence[int]:
        """Payments whose authentication has waited since before ``cutoff``; locked rows are skipped."""
        result = await self.session.execute(
            select(Payment.id)
            .where(Payment.threeds_stage.in_(OPEN_STAGES), Payment.threeds_started_at < cutoff)
            .order_by(Payment.threeds_started_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return result.scalars().all()
