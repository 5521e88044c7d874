"""NetValve's request bodies built from the shop's values: the one place NetValve's field limits are applied
(lengths cut, phone numbers compacted, empty values left out). A body NetValve would not take is refused
with ``UnsendableRequest`` before anything is sent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from app.gateway.cardonfile import CardOnFile
from app.gateway.routing import Routing, RoutingKind
from app.gateway.threeds import ThreeDSAuthRequest, ThreeDSInitRequest, ThreeDSResultRequest, ThreeDSStep
from app.gateway.wire import (
    CLIENT_ORDER_ID_MAX,
    PHONE_MAX,
    STATE_MAX,
    ZIP_CODE_MAX,
    CancelBody,
    CaptureBody,
    CaptureOptions,
    CreateTokenRequest,
    HppOrderRequest,
    RefundBody,
    SaleRequest,
)

M = TypeVar("M", bound=BaseModel)

_PHONE_NOISE: Final = re.compile(r"[\s().-]")
_THREEDS_CUSTOMER: Final = ("customer_ip", "customer_email", "customer_phone")
# What /3ds/authentication adds of the shopper (its ``customerName`` is the first name alone).
_THREEDS_SHOPPER: Final = (
    "customer_last_name",
    "customer_address",
    "customer_city",
    "customer_state",
    "customer_zip_code",
    "customer_country_code",
)


class UnsendableRequest(ValueError):
    """NetValve would not take the body: the fields it would refuse (never their values)."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields
        super().__init__(f"NetValve would refuse the fields {', '.join(fields)}")


@dataclass(frozen=True)
class Shopper:
    """Who pays, as the shop knows them."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    street: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None
    ip: str | None = None
    # The billing address's name, the one name 3-D Secure sends as the card holder's (none without one).
    card_holder: str | None = None


@dataclass(frozen=True)
class Sale:
    """A card payment the shop asks for: amount, merchant account, the shopper, and the token it pays with:
    the hosted fields' token, or with a saved card (``card_on_file``) its gateway token, taken from there
    when not given."""

    amount: Decimal
    currency: str
    routing: Routing
    description: str
    shopper: Shopper
    payment_token: str = field(default="", repr=False)
    card_on_file: CardOnFile | None = None

    def __post_init__(self) -> None:
        saved = self.card_on_file.token if self.card_on_file is not None else None
        if saved and not self.payment_token:
            object.__setattr__(self, "payment_token", saved)

    def check_card_on_file(self, *, shopper_present: bool = False) -> None:
        """Refuse a stored-credential part NetValve could not take; 3-D Secure needs the shopper there."""
        if self.card_on_file is None:
            return
        problems = self.card_on_file.problems(self.payment_token)
        if shopper_present and self.card_on_file.kind == "merchant":
            problems = ["cardOnFile.kind"]
        if problems:
            raise UnsendableRequest(problems)


@dataclass(frozen=True)
class Browser:
    """What the shopper's browser tells 3-D Secure about itself."""

    user_agent: str
    accept_header: str
    language: str
    color_depth: int
    screen_height: int
    screen_width: int
    time_zone: int
    java_enabled: bool


def _build(model: type[M], values: Mapping[str, Any]) -> M:
    try:
        return model(**values)
    except ValidationError as exc:
        raise UnsendableRequest(sorted({".".join(map(str, err["loc"])) for err in exc.errors()})) from None


def _phone(value: str | None) -> str | None:
    """Separators go; a number still too long for NetValve is left out."""
    if not value:
        return None
    compact = _PHONE_NOISE.sub("", value)
    return compact if len(compact) <= PHONE_MAX else None


def _customer(shopper: Shopper) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "customer_email": shopper.email,
        "customer_first_name": shopper.first_name,
        "customer_last_name": shopper.last_name,
        "customer_name": " ".join(part for part in (shopper.first_name, shopper.last_name) if part) or None,
        "customer_address": shopper.street,
        "customer_city": shopper.city,
        "customer_state": shopper.province and shopper.province[:STATE_MAX],
        "customer_zip_code": shopper.postal_code and shopper.postal_code[:ZIP_CODE_MAX],
        "customer_country_code": shopper.country_code,
        "customer_phone": _phone(shopper.phone),
    }
    return {"customer_ip": shopper.ip} | {k: v for k, v in fields.items() if v}


def sale(sale: Sale, reference: str, authenticated: ThreeDSStep | None = None) -> SaleRequest:
    """``/sale`` and ``/authorize`` under ``reference`` (NetValve's ``clientOrderId``), with the proof of a
    3-D Secure authentication when there was one."""
    sale.check_card_on_file()
    card_on_file = sale.card_on_file
    return _build(
        SaleRequest,
        {
            "amount": sale.amount,
            "currency": sale.currency,
            "payment_type": card_on_file.payment_type if card_on_file is not None else "CARD",
            "payment_token": sale.payment_token,
            "additional_data": card_on_file.additional_data() if card_on_file is not None else None,
            "order_desc": sale.description,
            **sale.routing.model_fields(),
            **_customer(sale.shopper),
            "client_order_id": reference,
            "three_ds": authenticated.proof if authenticated is not None else None,
        },
    )


def check_sale(value: Sale) -> None:
    """Refuse a sale NetValve would not take before anything is recorded; the longest reference stands in
    for the one its attempt will get."""
    sale(value, "x" * CLIENT_ORDER_ID_MAX)


def hosted_order(
    *,
    amount: Decimal,
    currency: str,
    routing: Routing,
    mode: Literal["SALE", "AUTHORIZATION"],
    reference: str,
    description: str,
    urls: Mapping[str, Any],
) -> HppOrderRequest:
    """``/hpp/order``: the shopper pays on NetValve's page; it returns to one of ``urls``."""
    return HppOrderRequest(
        amount=amount,
        currency=currency,
        mode=mode,
        client_order_id=reference,
        order_desc=description,
        success_url=urls["success"],
        cancel_url=urls["cancel"],
        failed_url=urls["failed"],
        pending_url=urls["pending"],
        **routing.model_fields(),
    )


def capture(transaction_id: int | None, amount: Decimal, *, partial: bool) -> CaptureBody:
    """A capture of less than what is authorized is the last one NetValve allows (``finalCapture``)."""
    options = CaptureOptions(final_capture=True) if partial else None
    return CaptureBody(transaction_id=transaction_id, amount=amount, capture_options=options)


def refund(transaction_id: int | None, amount: Decimal) -> RefundBody:
    return RefundBody(transaction_id=transaction_id, amount=amount)


def cancel(transaction_id: int | None) -> CancelBody:
    return CancelBody(transaction_id=transaction_id)


def threeds_initialization(value: Sale, browser: Browser, return_url: str | None) -> ThreeDSInitRequest:
    """``/3ds/v2/initialization`` for the sale's own card (a saved card's gateway token), amount and
    shopper. NetValve's 3-D Secure bodies carry no CIT/MIT fields: the sale does."""
    value.check_card_on_file(shopper_present=True)
    customer = _customer(value.shopper)
    return _build(
        ThreeDSInitRequest,
        {
            "amount": value.amount,
            "currency": value.currency,
            "payment_token": value.payment_token,
            "merchant_redirect_url": return_url,
            "user_agent": browser.user_agent,
            "browser_header": browser.accept_header,
            "browser_java_enabled": browser.java_enabled,
            "browser_language": browser.language,
            "browser_color_depth": browser.color_depth,
            "browser_screen_height": browser.screen_height,
            "browser_screen_width": browser.screen_width,
            "browser_time_zone": browser.time_zone,
            "card_holder_name": value.shopper.card_holder,
            **value.routing.model_fields(),
            **{name: customer[name] for name in _THREEDS_CUSTOMER if name in customer},
        },
    )


def threeds_authentication(value: Sale, transaction_id: str) -> ThreeDSAuthRequest:
    """``/3ds/authentication`` after the device-data frame, for the authentication ``transaction_id``: the
    amount and what NetValve's v2 guide requires of the shopper (its ``customerName`` is the first name, with
    the last name and country), the address when known."""
    value.check_card_on_file(shopper_present=True)
    customer = _customer(value.shopper)
    return _build(
        ThreeDSAuthRequest,
        {
            "trans_id": transaction_id,
            "amount": value.amount,
            "currency": value.currency,
            "customer_name": value.shopper.first_name,
            "card_holder_name": value.shopper.card_holder,
            **value.routing.model_fields(),
            **{name: customer[name] for name in _THREEDS_CUSTOMER + _THREEDS_SHOPPER if name in customer},
        },
    )


def check_threeds_authentication(value: Sale) -> None:
    """Refuse, before anything is recorded, a sale whose ``/3ds/authentication`` NetValve would not take."""
    threeds_authentication(value, "x")


def create_token(payment_token: str, routing: Routing, *, currency: str, verify: bool) -> CreateTokenRequest:
    """``/createToken`` for a tokenized hosted-fields token; ``verify`` checks the card by a $0
    authorization. Smart routing has no ``/createToken``: NetValve's body takes a MID only."""
    if routing.kind is RoutingKind.SITE:
        raise UnsendableRequest(["siteId"])
    return _build(
        CreateTokenRequest,
        {"payment_token": payment_token, "currency": currency, "verify": verify, **routing.model_fields()},
    )


def threeds_result(routing: Routing, transaction_id: str) -> ThreeDSResultRequest:
    """``/3ds/result`` after the challenge."""
    return ThreeDSResultRequest(trans_id=transaction_id, **routing.model_fields())
