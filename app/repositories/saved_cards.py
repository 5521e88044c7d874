"""The vault's rows: account holders and saved cards (the token as ciphertext only)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AccountHolder, SavedCard
from app.models.saved_card import new_vault_id


class SavedCardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def holder(self, holder_id: str) -> AccountHolder | None:
        return await self.session.get(AccountHolder, holder_id)

    async def holder_for_customer(self, customer_id: str) -> AccountHolder | None:
        found = await self.session.execute(
            select(AccountHolder).where(AccountHolder.customer_id == customer_id)
        )
        return found.scalar_one_or_none()

    async def ensure_holder(self, customer_id: str, email: str | None) -> AccountHolder:
        """The customer's holder, created unless it exists: two concurrent calls get the same one."""
        await self.session.execute(
            insert(AccountHolder)
            .values(id=new_vault_id("nvah"), customer_id=customer_id, email=email)
            .on_conflict_do_nothing(index_elements=[AccountHolder.customer_id])
        )
        holder = await self.holder_for_customer(customer_id)
        assert holder is not None
        return holder

    async def delete_holder(self, holder: AccountHolder) -> int:
        """Delete the holder and (ON DELETE CASCADE) its cards; how many live cards went with it."""
        live = await self.session.scalar(
            select(func.count())
            .select_from(SavedCard)
            .where(SavedCard.account_holder_id == holder.id, SavedCard.deleted_at.is_(None))
        )
        await self.session.execute(delete(AccountHolder).where(AccountHolder.id == holder.id))
        return int(live or 0)

    async def cards_of(self, holder_id: str) -> list[SavedCard]:
        found = await self.session.execute(
            select(SavedCard)
            .where(SavedCard.account_holder_id == holder_id, SavedCard.deleted_at.is_(None))
            .order_by(SavedCard.created_at.desc(), SavedCard.id)
        )
        return list(found.scalars())

    async def live_card(self, card_id: str) -> SavedCard | None:
        card = await self.session.get(SavedCard, card_id)
        return card if card is not None and card.deleted_at is None else None

    async def add_card(self, card: SavedCard) -> SavedCard:
        self.session.add(card)
        await self.session.flush()
        return card

    async def delete_card(self, card_id: str) -> bool:
        """Mark the card deleted and erase its token now; the retention pass removes the row."""
        deleted = await self.session.execute(
            update(SavedCard)
            .where(SavedCard.id == card_id, SavedCard.deleted_at.is_(None))
            .values(deleted_at=datetime.now(UTC), token_encrypted=None)
        )
        return bool(getattr(deleted, "rowcount", 0))
