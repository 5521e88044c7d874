"""NetValve wire models: field names, limits and the exact JSON encoding of request bodies.

Python attributes are snake_case; NetValve's names are the aliases. Request bodies are encoded by
``encode_json`` so that money never passes through ``float``: every ``Decimal`` is written as a
JSON number with exactly two decimals (``12.50``). Responses must be decoded with ``decode_json``
(``parse_float=Decimal``) for the same reason.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated, Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from app.gateway.outcomes import DECLINES, PAYMENT_KINDS, Outcome, TxnKind, classify_code, txn_kind

CENT = Decimal("0.01")
MID_FIELDS = ("netvalveMidId", "midId", "siteId")
_MASKED_PAN = re.compile(r"^\d{0,6}[*xX]+\d{0,4}$")
_ORDER_DESC_UNSAFE = re.compile(r"[^\w\s,.-]")
_WHITESPACE = re.compile(r"\s+")


# --- money -----------------------------------------------------------------------------------


def check_amount(amount: Decimal) -> Decimal:
    """Return ``amount`` if NetValve may be sent it; never rounds (money is not ours to round)."""
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    if amount <= 0:
        raise ValueError(f"amount must be greater than zero, got {amount}")
    try:
        exact = amount == amount.quantize(CENT)
    except InvalidOperation:
        raise ValueError("amount is too large") from None
    if not exact:
        raise ValueError(f"amount {amount} has more than two decimal places; refusing to round money")
    return amount


def _to_amount(value: object) -> Decimal:
    # bool is an int and float is inexact: both are bugs in the caller, not amounts.
    if isinstance(value, bool | float):
        raise ValueError("amounts must be Decimal, int or str, never float or bool")
    if isinstance(value, Decimal):
        return check_amount(value)
    if isinstance(value, int):
        return check_amount(Decimal(value))
    if isinstance(value, str):
        try:
            return check_amount(Decimal(value.strip()))
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
    raise ValueError(f"unsupported amount type {type(value).__name__}")


def money_token(amount: Decimal) -> str:
    """The JSON number token for ``amount``: plain notation, exactly two decimals."""
    return format(check_amount(amount).quantize(CENT), "f")


def encode_json(value: object) -> bytes:
    """Compact JSON where every ``Decimal`` is a two-decimal money token; ``float`` is refused."""
    return _encode(value).encode("utf-8")


def _encode(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return money_token(value)
    if isinstance(value, Enum):
        return _encode(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        raise TypeError("refusing to encode a float into a NetValve request; use Decimal")
    if isinstance(value, Mapping):
        items = ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _refuse_constant(name: str) -> object:
    raise ValueError(f"invalid JSON constant {name}")


def decode_json(raw: bytes | str) -> Any:
    """Parse a NetValve body; JSON numbers with a fraction become ``Decimal``, never ``float``."""
    return json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)


# --- field types -----------------------------------------------------------------------------


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _sanitize_order_desc(value: object) -> object:
    if not isinstance(value, str):
        return value
    cleaned = _WHITESPACE.sub(" ", _ORDER_DESC_UNSAFE.sub(" ", value)).strip()[:100].strip()
    return cleaned or None


def _ip_address(value: str) -> str:
    return str(ipaddress.ip_address(value))


def _email(value: str) -> str:
    local, sep, domain = value.rpartition("@")
    if not sep or not local or "." not in domain or any(c.isspace() for c in value):
        raise ValueError("not an email address")
    return value


def _absolute_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


def mask_pan(value: str) -> str:
    """Keep NetValve's masked form; mask anything that looks like a full card number."""
    digits = re.sub(r"[\s-]", "", value)
    if _MASKED_PAN.match(digits) or not digits.isdigit() or len(digits) < 12:
        return value
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


WireAmount = Annotated[Decimal, BeforeValidator(_to_amount)]
Currency = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2}$")]
ClientOrderId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
OrderDesc = Annotated[str | None, BeforeValidator(_sanitize_order_desc)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
Email = Annotated[str, StringConstraints(max_length=128), AfterValidator(_email)]
AbsoluteUrl = Annotated[str, AfterValidator(_absolute_url)]
TransactionId = Annotated[int, Field(gt=0)]


# --- requests --------------------------------------------------------------------------------


class WireRequest(BaseModel):
    """A request body. Immutable, strict about unknown fields, encoded with ``to_wire``."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        str_strip_whitespace=True,
        # Validation errors would otherwise echo payment tokens and passwords into logs.
        hide_input_in_errors=True,
    )

    def wire_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)

    def to_wire(self) -> bytes:
        return encode_json(self.wire_dict())

    def secret_values(self) -> tuple[str, ...]:
        """Values of fields hidden from repr (tokens, passwords), to keep them out of log text."""
        values = (getattr(self, name) for name, info in type(self).model_fields.items() if not info.repr)
        return tuple(value for value in values if isinstance(value, str) and value)


def _exactly_one_mid(netvalve_mid_id: str | None, mid_id: int | None, site_id: str | None) -> None:
    given = [
        name
        for name, value in zip(MID_FIELDS, (netvalve_mid_id, mid_id, site_id), strict=True)
        if value is not None
    ]
    if len(given) != 1:
        # Any MID next to siteId silently disables smart routing, so two is as wrong as none.
        raise ValueError(f"exactly one of {', '.join(MID_FIELDS)} is required, got {given or 'none'}")


class AdditionalData(WireRequest):
    """``AdditionalDataDTO``; the documented fields we use, anything else passes through as given."""

    model_config = ConfigDict(extra="allow")

    credential_on_file_transaction: str | None = None
    request_transaction_type: (
        Literal["IN_APP", "ECOMMERCE", "RECURRING", "DIRECT_MARKETING", "INSTALLMENT"] | None
    ) = None
    recurring_schedule_type: str | None = None
    recurrence_mode: str | None = None
    industry_code: str | None = None


class CustomerDetails(WireRequest):
    """Customer fields with NetValve's length limits; nested in HPP, flattened into /sale."""

    customer_name: str | None = None
    customer_first_name: str | None = None
    customer_last_name: str | None = None
    customer_address: str | None = None
    customer_city: str | None = None
    customer_state: Annotated[str, StringConstraints(max_length=30)] | None = None
    customer_zip_code: Annotated[str, StringConstraints(max_length=10)] | None = None
    customer_country_code: CountryCode | None = None
    customer_phone: Annotated[str, StringConstraints(max_length=20)] | None = None
    customer_email: Email | None = None
    customer_ip: IpAddress | None = None


class ThreeDSData(WireRequest):
    """The ``3DS`` object of a sale (``ThreeDomainsSecureDTO``): the proof of a 3-D Secure authentication."""

    ds_transaction_id: str | None = None
    eci: str
    cavv: str = Field(repr=False)
    version: str | None = None


class SaleRequest(CustomerDetails):
    """Body of ``POST /sale`` and ``POST /authorize`` (a token payment; no raw card data)."""

    amount: WireAmount
    currency: Currency
    payment_type: Literal["CARD", "WALLET", "TOKEN"]
    payment_token: Annotated[str, StringConstraints(min_length=1)] = Field(repr=False)
    netvalve_mid_id: str | None = None
    mid_id: int | None = None
    site_id: str | None = None
    client_order_id: ClientOrderId | None = None
    order_desc: OrderDesc = None
    descriptor: Annotated[str, StringConstraints(max_length=50)] | None = None
    additional_data: AdditionalData | None = None
    three_ds: ThreeDSData | None = Field(default=None, alias="3DS")

    @model_validator(mode="after")
    def _one_mid(self) -> Self:
        _exactly_one_mid(self.netvalve_mid_id, self.mid_id, self.site_id)
        return self

    def secret_values(self) -> tuple[str, ...]:
        proof = self.three_ds.secret_values() if self.three_ds is not None else ()
        return (*super().secret_values(), *proof)


class CaptureOptions(WireRequest):
    final_capture: bool


class CaptureRequest(WireRequest):
    """Body of ``POST /capture``. A partial amount needs ``finalCapture: true``."""

    transaction_id: TransactionId = Field(alias="transactionID")
    amount: WireAmount
    capture_options: CaptureOptions | None = None
    additional_data: AdditionalData | None = None


class RefundRequest(WireRequest):
    """Body of ``POST /refund``; ``amount=None`` leaves the key out, which NetValve reads as full."""

    transaction_id: TransactionId = Field(alias="transactionID")
    amount: WireAmount | None = None
    additional_data: AdditionalData | None = None


class CancelRequest(WireRequest):
    """Body of ``POST /cancel`` (void of an uncaptured authorization)."""

    transaction_id: TransactionId = Field(alias="transactionID")
    additional_data: AdditionalData | None = None


class HppOrderRequest(WireRequest):
    """Body of ``POST {hppApiUrl}/hpp/order``."""

    amount: WireAmount
    currency: Currency
    mode: Literal["SALE", "AUTHORIZATION"] = "SALE"
    netvalve_mid_id: str | None = None
    mid_id: int | None = None
    site_id: str | None = None
    client_order_id: ClientOrderId | None = None
    order_desc: OrderDesc = None
    success_url: AbsoluteUrl
    cancel_url: AbsoluteUrl
    failed_url: AbsoluteUrl
    pending_url: AbsoluteUrl | None = None
    slim_mode: bool | None = None
    customer_details: CustomerDetails | None = None

    @model_validator(mode="after")
    def _one_mid(self) -> Self:
        _exactly_one_mid(self.netvalve_mid_id, self.mid_id, self.site_id)
        return self


class BackofficeSignIn(WireRequest):
    user_name: str
    password: str = Field(repr=False)
    check_for_bot: str = "net"


# --- responses -------------------------------------------------------------------------------


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


def _lenient_datetime(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value
    try:
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            number = float(value)
            # Epoch milliseconds are common in Java backends; seconds would be centuries away.
            return datetime.fromtimestamp(number / 1000 if abs(number) > 1e11 else number, UTC)
        if isinstance(value, str):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _aware(value: datetime | None) -> datetime | None:
    # Naive and aware datetimes cannot be compared; NetValve's naive stamps are UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


ScriptDate = Annotated[datetime | None, BeforeValidator(_lenient_datetime), AfterValidator(_aware)]


class BackofficeScript(WireResponse):
    """One entry of ``GET {backoffice}/backoffice/hpf/script`` (undocumented by NetValve)."""

    id: int | str | None = None
    netvalve_script_src: str | None = Field(
        default=None, validation_alias=AliasChoices("netvalveScriptSrc", "scriptSrc", "netvalve_script_src")
    )
    integrity: str | None = None
    client_version: str | None = None
    status: str | None = None
    deleted: bool = False
    is_default: bool = False
    created_date: ScriptDate = None

    @property
    def usable(self) -> bool:
        src = urlsplit(self.netvalve_script_src or "")
        return (
            (self.status or "").upper() == "ACTIVE"
            and not self.deleted
            and (src.scheme == "https" and bool(src.netloc))
        )


class BackofficeToken(WireResponse):
    access_token: str = Field(
        repr=False, validation_alias=AliasChoices("accessToken", "access_token", "token")
    )
    expires_in: float = 3600.0


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pick_active_script(scripts: Sequence[BackofficeScript]) -> BackofficeScript | None:
    """ACTIVE, not deleted, https; the default one if any, else the newest ``createdDate``."""
    usable = [s for s in scripts if s.usable]
    if not usable:
        return None
    return max(usable, key=lambda s: (s.is_default, s.created_date or _EPOCH))
