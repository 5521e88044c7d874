"""The vault: account holders of registered Medusa customers and the cards they saved. A gateway token is
stored only as Fernet ciphertext (``SAVED_CARDS_ENCRYPTION_KEYS``: the first key encrypts, every key
decrypts) and leaves the vault only towards NetValve."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cryptography.fernet import Fernet, MultiFernet
from prometheus_client import Counter

from app.core.config import Settings
from app.core.errors import AppError
from app.gateway import GatewayResult, IssuedCard, Sale, requests
from app.models import AccountHolder, Payment, SavedCard
from app.repositories.medusa_rows import MedusaCart
from app.repositories.saved_cards import SavedCardRepository
from app.schemas.saved_cards import AccountHolderResponse, SavedCardResponse
from app.services import saved_card_errors as vault_errors
from app.services.carts import Payable
from app.services.context import ServiceContext

SAVED_CARDS_TOTAL = Counter(
    "netvalve_saved_cards_total", "Cards the shoppers asked to save, by outcome", ["outcome"]
)
SAVED_CARD_REFUSALS = Counter(
    "netvalve_saved_card_refusals_total",
    "Payments with (or saving) a saved card refused, ours or NetValve's, by error code",
    ["code"],
)

logger = logging.getLogger(__name__)


def refused(error: AppError) -> AppError:
    """Count a refusal of a saved-card payment (or of saving a card) by its code; the error to raise."""
    SAVED_CARD_REFUSALS.labels(error.code).inc()
    return error


def cipher(settings: Settings) -> MultiFernet:
    return MultiFernet([Fernet(key.get_secret_value()) for key in settings.saved_cards_encryption_keys])


def is_expired(card: SavedCard, now: datetime | None = None) -> bool:
    """A card is good to the end of its expiry month."""
    today = now or datetime.now(UTC)
    return (card.expiry_year, card.expiry_month) < (today.year, today.month)


def card_view(card: SavedCard) -> SavedCardResponse:
    return SavedCardResponse(
        id=card.id,
        brand=card.brand,
        last4=card.last4,
        masked=card.masked,
        expiry_month=card.expiry_month,
        expiry_year=card.expiry_year,
        expired=is_expired(card),
        created_at=card.created_at,
    )


def holder_view(holder: AccountHolder) -> AccountHolderResponse:
    return AccountHolderResponse(
        id=holder.id, customer_id=holder.customer_id, email=holder.email, created_at=holder.created_at
    )


@dataclass(frozen=True)
class UsableCard:
    card: SavedCard
    token: str = ""

    def __repr__(self) -> str:
        return f"UsableCard(card_id={self.card.id!r})"


class Vault:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.medusa = ctx.carts.medusa

    def require_enabled(self) -> None:
        if not (self.settings.saved_cards_enabled and self.settings.saved_cards_encryption_keys):
            raise vault_errors.SavedCardsDisabled()

    async def create_holder(self, customer_id: str, email: str | None) -> AccountHolderResponse:
        """The registered customer's holder; the one it has already on a second call."""
        self.require_enabled()
        customer = await self.medusa.get_customer(customer_id)
        if customer is None or not customer.has_account:
            raise vault_errors.CustomerNotRegistered()
        async with self.ctx.sessionmaker.begin() as db:
            holder = await SavedCardRepository(db).ensure_holder(customer_id, email or customer.email)
            return holder_view(holder)

    async def get_holder(self, holder_id: str) -> AccountHolderResponse:
        self.require_enabled()
        async with self.ctx.reads() as db:
            return holder_view(await _holder(SavedCardRepository(db), holder_id))

    async def update_holder(self, holder_id: str, email: str | None) -> AccountHolderResponse:
        self.require_enabled()
        async with self.ctx.sessionmaker.begin() as db:
            holder = await _holder(SavedCardRepository(db), holder_id)
            if email is not None:
                holder.email = email
            await db.flush()
            await db.refresh(holder)
            return holder_view(holder)

    async def delete_holder(self, holder_id: str) -> int:
        """Delete the holder and its cards (ours only: NetValve keeps no customer); the cards deleted."""
        self.require_enabled()
        async with self.ctx.sessionmaker.begin() as db:
            repo = SavedCardRepository(db)
            return await repo.delete_holder(await _holder(repo, holder_id))

    async def cards(self, holder_id: str) -> list[SavedCardResponse]:
        self.require_enabled()
        async with self.ctx.reads() as db:
            repo = SavedCardRepository(db)
            await _holder(repo, holder_id)
            return [card_view(card) for card in await repo.cards_of(holder_id)]

    async def delete_card(self, card_id: str) -> None:
        self.require_enabled()
        async with self.ctx.sessionmaker.begin() as db:
            if not await SavedCardRepository(db).delete_card(card_id):
                raise vault_errors.SavedCardNotFound()

    def check_may_save(self, cart: Payable) -> None:
        """Only a registered customer's cart may save its card (refused before anything is sent)."""
        try:
            self.require_enabled()
            if not (isinstance(cart, MedusaCart) and cart.customer_id and cart.customer_has_account):
                raise vault_errors.SaveCardRequiresAccount()
        except AppError as exc:
            raise refused(exc) from None

    async def usable(self, card_id: str, cart: Payable, *, merchant: bool = False) -> UsableCard:
        """The saved card and its token, for a payment of ``cart``'s customer in the card's sales channel;
        refused (nothing sent, counted) otherwise, the storefront never learning why a card is not found."""
        try:
            return await self._usable(card_id, cart, merchant=merchant)
        except AppError as exc:
            raise refused(exc) from None

    async def _usable(self, card_id: str, cart: Payable, *, merchant: bool) -> UsableCard:
        self.require_enabled()
        if not merchant and not (
            isinstance(cart, MedusaCart) and cart.customer_id and cart.customer_has_account
        ):
            raise vault_errors.SaveCardRequiresAccount()
        async with self.ctx.reads() as db:
            card = await SavedCardRepository(db).live_card(card_id)
        if (
            card is None
            or card.token_encrypted is None
            or card.customer_id != cart.customer_id
            or card.sales_channel_id != cart.sales_channel_id
        ):
            raise vault_errors.SavedCardNotFound()
        if is_expired(card):
            raise vault_errors.SavedCardExpired()
        if merchant and card.initial_transaction_id is None:
            raise vault_errors.SavedCardNoConsent()
        return UsableCard(card, cipher(self.settings).decrypt(card.token_encrypted).decode())

    async def save(
        self, payment_id: int, cart: MedusaCart, sale: Sale, result: GatewayResult[None]
    ) -> str | None:
        """Save the card of an approved payment the shopper asked to save: the gateway token NetValve issued
        with it, else one it issues from the sale's hosted-fields token (``create_token``); the card's id.
        A failure is logged (never the token) and counted, and the paid payment stands."""
        try:
            issued = result.issued_card or await self._token_after(sale, result)
            card = _card_of(payment_id, cart, issued, result.transaction_id)
            card.token_encrypted = cipher(self.settings).encrypt(issued.token.encode())
            async with self.ctx.sessionmaker.begin() as db:
                repo = SavedCardRepository(db)
                holder = await repo.ensure_holder(cart.customer_id or "", cart.email)
                card.account_holder_id = holder.id
                await repo.add_card(card)
                stored = await db.get(Payment, payment_id)
                if stored is not None:
                    stored.saved_card_id = card.id
        except Exception as exc:
            SAVED_CARDS_TOTAL.labels("failed").inc()
            logger.warning(
                "the paid card could not be saved",
                extra={"payment_id": payment_id, "cart_id": cart.id, "reason": type(exc).__name__},
            )
            return None
        SAVED_CARDS_TOTAL.labels("saved").inc()
        return card.id

    async def _token_after(self, sale: Sale, result: GatewayResult[None]) -> IssuedCard:
        """A NetValve account that issues no token with a sale: the token of the card the sale's
        hosted-fields token holds, sent once like every call that creates state at NetValve; what its answer
        lacks of the card (its minimal answer has none of it) from the sale's answer."""
        created = await self.ctx.gateway.create_token(
            requests.create_token(sale.payment_token, sale.routing, currency=sale.currency, verify=False)
        )
        issued = created.issued_card
        if issued is None:
            raise ValueError(f"NetValve issued no gateway token after the sale ({created.outcome.value})")
        paid = result.response
        if paid is None:
            return issued
        return replace(
            issued,
            masked=issued.masked or paid.card_number,
            brand=issued.brand or paid.card_type,
            expiry_month=issued.expiry_month or _number(paid.card_expiry_month),
            expiry_year=issued.expiry_year or _number(paid.card_expiry_year),
        )


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _card_of(payment_id: int, cart: MedusaCart, issued: IssuedCard, transaction_id: int | None) -> SavedCard:
    if not issued.masked or issued.expiry_month is None or issued.expiry_year is None:
        raise ValueError("NetValve's answer gave no masked card or expiry")
    year = issued.expiry_year
    return SavedCard(
        customer_id=cart.customer_id,
        sales_channel_id=cart.sales_channel_id,
        brand=issued.brand,
        last4=issued.masked[-4:],
        masked=issued.masked,
        expiry_month=issued.expiry_month,
        expiry_year=year + 2000 if year < 100 else year,
        initial_transaction_id=transaction_id,
        saved_from_payment_id=payment_id,
    )


async def _holder(repo: SavedCardRepository, holder_id: str) -> AccountHolder:
    holder = await repo.holder(holder_id)
    if holder is None:
        raise vault_errors.AccountHolderNotFound()
    return holder
