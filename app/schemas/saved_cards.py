"""Request and response models of the account-holder and saved-card routes: never a gateway token."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.netvalve import Strict
from app.schemas.values import MedusaId


class AccountHolderBase(Strict):
    email: str | None = Field(default=None, min_length=3, max_length=320)


class AccountHolderRequest(AccountHolderBase):
    """The account holder of a registered Medusa customer; the existing one when it has one already."""

    customer_id: MedusaId


class AccountHolderUpdate(AccountHolderBase):
    pass


class AccountHolderResponse(BaseModel):
    id: str
    customer_id: str
    email: str | None
    created_at: datetime


class AccountHolderDeleted(BaseModel):
    id: str
    deleted: Literal[True] = True
    cards_deleted: int


class SavedCardResponse(BaseModel):
    """A saved card as the shopper may see it: NetValve's masked number, never more digits, never a token."""

    id: str
    brand: str | None
    last4: str
    masked: str
    expiry_month: int
    expiry_year: int
    expired: bool
    created_at: datetime


class SavedCardList(BaseModel):
    cards: list[SavedCardResponse]


class SavedCardDeleted(BaseModel):
    id: str
    deleted: Literal[True] = True


class MerchantChargeRequest(Strict):
    """A merchant-initiated charge of a saved card for a payment collection; Medusa holds the amount."""

    payment_collection_id: MedusaId
