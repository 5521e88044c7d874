"""NetValve's request bodies: field names, limits and formats.

Python attributes are snake_case; NetValve's names are the aliases. Bodies are encoded with
``encoding.encode_json`` (money as exact two-decimal numbers).
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from app.gateway.encoding import encode_json, to_amount

MID_FIELDS = ("netvalveMidId", "midId", "siteId")
# NetValve's length limits, declared here and applied by ``requests``.
CLIENT_ORDER_ID_MAX: Final = 100
ORDER_DESC_MAX: Final = 100
STATE_MAX: Final = 30
ZIP_CODE_MAX: Final = 10
PHONE_MAX: Final = 20
_ORDER_DESC_UNSAFE = re.compile(r"[^\w\s,.-]")
_WHITESPACE = re.compile(r"\s+")

# --- field types -----------------------------------------------------------------------------


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _sanitize_order_desc(value: object) -> object:
    if not isinstance(value, str):
        return value
    cleaned = _WHITESPACE.sub(" ", _ORDER_DESC_UNSAFE.sub(" ", value)).strip()[:ORDER_DESC_MAX].strip()
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


WireAmount = Annotated[Decimal, BeforeValidator(to_amount)]
Currency = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2}$")]
ClientOrderId = Annotated[str, StringConstraints(min_length=1, max_length=CLIENT_ORDER_ID_MAX)]
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
    # Not in NetValve's AdditionalDataDTO: the initial CIT a merchant-initiated charge refers to (cardonfile).
    initial_transaction_id: TransactionId | None = None


class CustomerDetails(WireRequest):
    """Customer fields with NetValve's length limits; nested in HPP, flattened into /sale."""

    customer_name: str | None = None
    customer_first_name: str | None = None
    customer_last_name: str | None = None
    customer_address: str | None = None
    customer_city: str | None = None
    customer_state: Annotated[str, StringConstraints(max_length=STATE_MAX)] | None = None
    customer_zip_code: Annotated[str, StringConstraints(max_length=ZIP_CODE_MAX)] | None = None
    customer_country_code: CountryCode | None = None
    customer_phone: Annotated[str, StringConstraints(max_length=PHONE_MAX)] | None = None
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


class CaptureBody(WireRequest):
    """Body of ``POST /capture``. A partial amount needs ``finalCapture: true``."""

    transaction_id: TransactionId = Field(alias="transactionID")
    amount: WireAmount
    capture_options: CaptureOptions | None = None
    additional_data: AdditionalData | None = None


class RefundBody(WireRequest):
    """Body of ``POST /refund``; ``amount=None`` leaves the key out, which NetValve reads as full."""

    transaction_id: TransactionId = Field(alias="transactionID")
    amount: WireAmount | None = None
    additional_data: AdditionalData | None = None


class CancelBody(WireRequest):
    """Body of ``POST /cancel`` (void of an uncaptured authorization)."""

    transaction_id: TransactionId = Field(alias="transactionID")
    additional_data: AdditionalData | None = None


class CreateTokenRequest(WireRequest):
    """Body of ``POST /createToken`` (``TokenizedCardInputDTO``) for a hosted-fields token; ``verify`` runs
    a $0 authorization first. The DTO names ``midId`` and ``netvalveMidId``, no ``siteId``."""

    payment_token: Annotated[str, StringConstraints(min_length=1)] = Field(repr=False)
    currency: Currency | None = None
    netvalve_mid_id: str | None = None
    mid_id: int | None = None
    verify: bool

    @model_validator(mode="after")
    def _one_mid(self) -> Self:
        if (self.netvalve_mid_id is None) == (self.mid_id is None):
            raise ValueError("exactly one of netvalveMidId, midId is required")
        return self


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
