"""Authorizations waiting for their capture long enough to lapse (``services.authorizations``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Payment, PaymentStatus


class AuthorizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_near_expiry(self, cutoff: datetime, limit: int) -> Sequence[Payment]:
        """Authorizations made before ``cutoff`` not noticed yet, marked noticed now; rows another replica
        holds are skipped, so each is noticed once."""
        due = (
            select(Payment.id)
            .where(
                Payment.status == PaymentStatus.AUTHORIZED,
                Payment.authorized_at <= cutoff,
                Payment.near_expiry_at.is_(None),
            )
            .order_by(Payment.authorized_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            update(Payment)
            .where(Payment.id.in_(due.scalar_subquery()))
            .values(near_expiry_at=func.now(), updated_at=Payment.updated_at)
            .returning(Payment)
            .execution_options(synchronize_session=False)
        )
        return result.scalars().all()

    async def near_expiry_due(self, limit: int) -> Sequence[Payment]:
        """Authorizations noticed near expiry and still held, with no call of theirs open."""
        result = await self.session.execute(
            select(Payment)
            .where(
                Payment.status == PaymentStatus.AUTHORIZED,
                Payment.near_expiry_at.is_not(None),
                Payment.operation_in_flight.is_(None),
            )
            .order_by(Payment.authorized_at)
            .limit(limit)
        )
        return result.scalars().all()
