"""The HPF tokens the service issued, each bound to the cart (or payment collection) it was issued for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import HpfToken, Payer

# Built once (every HPF session records a token and every payment reads one): each call only binds its values.
_RECORD = insert(HpfToken).on_conflict_do_nothing()
_PAYER = select(HpfToken.cart_id, HpfToken.payment_collection_id).where(
    HpfToken.token_sha256 == bindparam("token_sha256")
)


class HpfTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_token(
        self, token_sha256: str, payer: Payer, payment_session_id: str | None, expires_at: datetime | None
    ) -> None:
        await self.session.execute(
            _RECORD,
            {
                "token_sha256": token_sha256,
                "cart_id": payer.cart_id,
                "payment_collection_id": payer.payment_collection_id,
                "payment_session_id": payment_session_id,
                "expires_at": expires_at,
            },
        )

    async def token_payer(self, token_sha256: str) -> Payer | None:
        """The cart or collection the token was issued for; None for a token we did not issue."""
        result = await self.session.execute(_PAYER, {"token_sha256": token_sha256})
        row = result.one_or_none()
        if row is None:
            return None
        return (
            Payer(cart_id=row.cart_id)
            if row.cart_id is not None
            else Payer(payment_collection_id=row.payment_collection_id)
        )
