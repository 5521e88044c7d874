"""The HPF tokens the service issued, each bound to the cart (or payment collection) it was issued for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import HpfToken, Payer


class HpfTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_token(
        self, token_sha256: str, payer: Payer, payment_session_id: str | None, expires_at: datetime | None
    ) -> None:
        await self.session.execute(
            insert(HpfToken)
            .values(
                token_sha256=token_sha256,
                cart_id=payer.cart_id,
                payment_collection_id=payer.payment_collection_id,
                payment_session_id=payment_session_id,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing()
        )

    async def token_payer(self, token_sha256: str) -> Payer | None:
        """The cart or collection the token was issued for; None for a token we did not issue."""
        result = await self.session.execute(
            select(HpfToken.cart_id, HpfToken.payment_collection_id).where(
                HpfToken.token_sha256 == token_sha256
            )
        )
        row = result.one_or_none()
        if row is None:
            return None
        return (
            Payer(cart_id=row.cart_id)
            if row.cart_id is not None
            else Payer(payment_collection_id=row.payment_collection_id)
        )
