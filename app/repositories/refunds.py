"""SQL for the refunds a payment's ledger holds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CallOutcome, GatewayTransaction, Operation


class RefundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def approved(self, payment_id: int) -> list[GatewayTransaction]:
        """The payment's refunds NetValve made (through this service or outside it), oldest first."""
        result = await self.session.execute(
            select(GatewayTransaction)
            .where(
                GatewayTransaction.payment_id == payment_id,
                GatewayTransaction.operation == Operation.REFUND,
                GatewayTransaction.outcome == CallOutcome.APPROVED,
            )
            .order_by(GatewayTransaction.id)
        )
        return list(result.scalars())
