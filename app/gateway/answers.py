"""NetValve's answers as typed values: the transaction envelope, the look-ups and the HPF session.

Unknown fields are ignored, ``null`` and ``""`` are absent, card numbers are masked and tokens are kept out
of repr.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from app.gateway.codes import DECLINES, PAYMENT_KINDS, Outcome, TxnKind, classify_code, txn_kind
from app.gateway.wire import AbsoluteUrl

# Order states after which a hosted page can no longer be paid.
_CLOSED_ORDER_STATES = frozenset({"EXPIRED", "DECLINED"})
_MASKED_PAN = re.compile(r"^\d{0,6}[*xX]+\d{0,4}$")
GATEWAY_TOKEN = "GATEWAY_TOKEN"  # noqa: S105 (NetValve's paymentTokenType, not a credential)


def mask_pan(value: str) -> str:
    """Keep NetValve's masked form; mask anything that looks like a full card number."""
    digits = re.sub(r"[\s-]", "", value)
    if _MASKED_PAN.match(digits) or not digits.isdigit() or len(digits) < 12:
        return value
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


@dataclass(frozen=True)
class IssuedCard:
    """A card NetValve stored for us: its ``GATEWAY_TOKEN`` (a secret: not in repr) and what it shows of the
    card. ``/createToken`` without ``verify`` answers the token alone."""

    token: str = field(repr=False)
    token_type: str
    masked: str | None
    brand: str | None
    expiry_month: int | None
    expiry_year: int | None


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


class WireResponse(BaseModel):
    """A NetValve response: unknown fields ignored, ``null`` and ``""`` treated as absent."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        hide_input_in_errors=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None and v != ""}
        return data


class TransactionResponse(WireResponse):
    """``TransactionResponseDTO``: the answer to every payment call, inquiry and HPP order."""

    trace_id: str | None = Field(default=None, alias="traceID")
    response_timestamp: str | None = None
    order_id: int | str | None = None
    transaction_id: int | None = Field(default=None, alias="transactionID")
    response_code: str | None = None
    response_message: str | None = None
    response_code_type: str | None = None
    bank_response_code: str | None = None
    bank_response_message: str | None = None
    transaction_type: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    client_order_id: str | None = None
    card_number: str | None = None
    card_type: str | None = None
    auth_code: str | None = None
    bank_transaction_id: str | None = None
    card_expiry_month: str | None = None
    card_expiry_year: str | None = None
    payment_token: str | None = Field(default=None, repr=False)
    payment_token_type: str | None = None
    order_state: str | None = None
    redirect_url: str | None = Field(default=None, repr=False)
    mid_id: int | str | None = None
    netvalve_mid_id: str | None = None
    site_id: str | None = None

    @field_validator("card_number")
    @classmethod
    def _masked(cls, value: str | None) -> str | None:
        return mask_pan(value) if value else value

    @field_validator(
        "site_id", "bank_transaction_id", "auth_code", "card_expiry_month", "card_expiry_year", mode="before"
    )
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def outcome(self) -> Outcome:
        """Classification of this transaction's own result code (ignores HTTP and echo checks)."""
        return classify_code(self.response_code, self.response_code_type)

    @property
    def kind(self) -> TxnKind:
        return txn_kind(self.transaction_type)

    @property
    def issued_card(self) -> IssuedCard | None:
        """The gateway token an approved card payment or ``/createToken`` issued, with the masked card; an
        HPF token, or any token on an answer that is not an approval, is none."""
        token_type = (self.payment_token_type or "").strip().upper()
        if not self.payment_token or token_type != GATEWAY_TOKEN or self.outcome is not Outcome.APPROVED:
            return None
        return IssuedCard(
            token=self.payment_token,
            token_type=token_type,
            masked=self.card_number,
            brand=self.card_type,
            expiry_month=_number(self.card_expiry_month),
            expiry_year=_number(self.card_expiry_year),
        )


class TransactionSummary(WireResponse):
    """One transaction inside ``/transaction`` or ``/order`` (``TransactionShortOutputDTO``-like)."""

    transaction_id: int | str | None = Field(
        default=None,
        validation_alias=AliasChoices("transactionID", "transactionId", "id", "netvalveID", "transaction_id"),
        serialization_alias="transactionID",
    )
    transaction_type: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    response_code: str | None = None
    response_code_type: str | None = None
    response_message: str | None = None
    status: str | None = None
    created_date: str | None = None

    @property
    def outcome(self) -> Outcome:
        return classify_code(self.response_code, self.response_code_type)

    @property
    def kind(self) -> TxnKind:
        return txn_kind(self.transaction_type)

    @property
    def id_number(self) -> int | None:
        """The transaction id as a number, or None when NetValve sent something else."""
        try:
            return int(self.transaction_id) if self.transaction_id is not None else None
        except (TypeError, ValueError):
            return None


class ChargebackEntry(WireResponse):
    """One entry of ``chargebackData[]`` on ``GET /transaction``. NetValve documents the array, not its
    fields: the webhook's own names are read, with the plain ones as a fallback."""

    id: str | int | None = Field(default=None, validation_alias=AliasChoices("chargebackId", "id"))
    type: str | None = Field(
        default=None, validation_alias=AliasChoices("chargebackTransactionType", "chargebackType", "type")
    )
    source: str | None = Field(default=None, validation_alias=AliasChoices("chargebackSource", "source"))
    amount: Decimal | None = Field(default=None, validation_alias=AliasChoices("amount", "chargebackAmount"))
    currency: str | None = None


class TransactionDetails(WireResponse):
    """``GET /transaction?id=`` (``TransactionOutputDTO``); ``status`` is NetValve's free text."""

    netvalve_id: int | str | None = Field(
        default=None,
        validation_alias=AliasChoices("netvalveID", "netvalveId", "id", "netvalve_id"),
        serialization_alias="netvalveID",
    )
    status: str | None = None
    settlement_status: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    client_order_id: str | None = None
    transaction_type: str | None = None
    refund_balanced_amount: Decimal | None = None
    transaction_reference: int | str | None = None
    allowed_actions: list[str] = Field(default_factory=list)
    transactions: list[TransactionSummary] = Field(
        default_factory=list,
        validation_alias=AliasChoices("transactions", "transactionReferencedList"),
    )
    response_code: str | None = None
    response_code_type: str | None = None
    response_message: str | None = None
    order_id: int | str | None = None
    card_number: str | None = None
    created_date: str | None = None
    chargebacks: list[ChargebackEntry] = Field(
        default_factory=list, validation_alias=AliasChoices("chargebackData", "chargebacks")
    )

    @field_validator("card_number")
    @classmethod
    def _masked(cls, value: str | None) -> str | None:
        return mask_pan(value) if value else value

    @property
    def outcome(self) -> Outcome:
        return classify_code(self.response_code, self.response_code_type)


class OrderDetails(WireResponse):
    """``GET /order?clientOrderId=`` (``OrderOutputDTO``) with its transactions."""

    id: int | str | None = None
    client_order_id: str | None = None
    order_amount: Decimal | None = None
    currency: str | None = None
    order_state: str | None = None
    hpp_order_status: str | None = None
    order_desc: str | None = None
    transactions: list[TransactionSummary] = Field(default_factory=list)

    @property
    def state(self) -> str | None:
        return self.order_state or self.hpp_order_status

    @property
    def closed(self) -> bool:
        """The hosted page can no longer be paid."""
        return self.state in _CLOSED_ORDER_STATES

    def approved_payment(self) -> TransactionSummary | None:
        """The last approved SALE or AUTHORIZATION of the order, e.g. after an HPP return."""
        for txn in reversed(self.transactions):
            if txn.kind in PAYMENT_KINDS and txn.outcome is Outcome.APPROVED:
                return txn
        return None

    def all_declined(self) -> bool:
        """Every payment attempt of the order was declined (none approved, none pending)."""
        return bool(self.transactions) and all(t.outcome in DECLINES for t in self.transactions)


class HpfSession(WireResponse):
    """``GET /hpf/initializeSession`` (``GTW_1003``). Every token here is a secret: not in repr."""

    trace_id: str | None = Field(default=None, alias="traceID")
    response_code: str | None = None
    response_message: str | None = None
    netvalve_script_src: AbsoluteUrl = Field(repr=False)
    integrity: str | None = None
    version: str | None = None
    payment_token: Annotated[str, StringConstraints(min_length=1)] = Field(repr=False)
    jwt_token: str | None = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _jwt_from_script_url(cls, data: Any) -> Any:
        # Some responses carry the JWT only inside the script URL's query string.
        if not isinstance(data, Mapping) or data.get("jwtToken") or data.get("jwt_token"):
            return data
        src = data.get("netvalveScriptSrc") or data.get("netvalve_script_src")
        if not isinstance(src, str):
            return data
        jwt = parse_qs(urlsplit(src).query).get("jwtToken")
        return {**data, "jwtToken": jwt[0]} if jwt else data
