"""Field validation for request bodies, collecting every error for NetValve's 400 array answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

from netvalve_sandbox.cards import Card, acceptable_card_number
from netvalve_sandbox.errors import FieldError, ValidationFailed
from netvalve_sandbox.state import Routing, TxType
from netvalve_sandbox.wire import CENT

MAX_AMOUNT = Decimal("99999999.99")
CURRENCY = re.compile(r"^[A-Z]{3}$")
EXPIRY_MONTH = re.compile(r"^(0[1-9]|1[0-2])$")
EXPIRY_YEAR = re.compile(r"^\d{4}$")
PAYMENT_TYPES = frozenset({"CARD", "WALLET", "TOKEN"})
SECURITY_CODE = re.compile(r"^\d{3,4}$")
RECURRING_SCHEDULE_TYPES = frozenset(
    {
        "CIT_COF",
        "CIT_STANDING_ORDER",
        "CIT_SUBSCRIPTION",
        "MIT_UNSCHEDULED_COF",
        "MIT_STANDING_ORDER",
        "MIT_SUBSCRIPTION",
    }
)
HPP_MODES = {"SALE": TxType.SALE, "AUTHORIZATION": TxType.AUTHORIZATION}
CUSTOMER_FIELDS = (
    "customerName",
    "customerFirstName",
    "customerLastName",
    "customerEmail",
    "customerPhone",
    "customerIp",
    "customerAddress",
    "customerCity",
    "customerState",
    "customerZipCode",
    "customerCountryCode",
)


class Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, code: str, field: str, detail: str | None = None) -> None:
        self.items.append(FieldError(code, field, detail))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    return str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None


def amount_field(
    body: dict[str, Any], errors: Errors, name: str = "amount", *, required: bool = True
) -> Decimal:
    raw = body.get(name)
    if raw is None or raw == "":
        if required:
            errors.add("GTW_2002", name, "Amount is required.")
        return Decimal(0)
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | str):
        errors.add("GTW_2002", name, "Amount must be a number.")
        return Decimal(0)
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        errors.add("GTW_2002", name, "Amount must be a number.")
        return Decimal(0)
    if not amount.is_finite():
        errors.add("GTW_2002", name, "Amount must be a number.")
    elif amount <= 0:
        errors.add("GTW_2004", name)
    elif amount > MAX_AMOUNT:
        errors.add("GTW_2059", name)
    elif amount != amount.quantize(CENT):
        errors.add("GTW_2003", name)
    else:
        return amount.quantize(CENT)
    return amount


def currency_field(body: dict[str, Any], errors: Errors) -> str:
    currency = _text(body, "currency")
    if currency is None:
        errors.add("GTW_2018", "currency")
        return ""
    if not CURRENCY.match(currency):
        errors.add("GTW_2019", "currency")
    return currency


def client_order_id_field(body: dict[str, Any], errors: Errors) -> str | None:
    value = body.get("clientOrderId")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.add("GTW_2065", "clientOrderId", "Client Order Id must be a string.")
        return None
    if len(value) > 100:
        errors.add("GTW_2020", "clientOrderId")
    return value


def routing_fields(body: dict[str, Any], errors: Errors, *, required: bool = True) -> Routing:
    mid_id = body.get("midId")
    if mid_id is not None and (isinstance(mid_id, bool) or not isinstance(mid_id, int)):
        errors.add("GTW_2063", "midId", "midId must be an integer.")
        mid_id = None
    routing = Routing(
        mid_id=mid_id, netvalve_mid_id=_text(body, "netvalveMidId"), site_id=_text(body, "siteId")
    )
    if required and not routing.identifiers:
        errors.add("GTW_2085", "midId")
    return routing


def card_fields(
    body: dict[str, Any], errors: Errors, names: tuple[str, str, str, str] | None = None
) -> Card | None:
    number_name, month_name, year_name, cvv_name = names or (
        "cardNumber",
        "cardExpireMonth",
        "cardExpireYear",
        "cardSecurityCode",
    )
    raw_number = _text(body, number_name)
    number = raw_number.replace(" ", "") if raw_number else None
    month, year = _text(body, month_name), _text(body, year_name)
    if number is None:
        errors.add("GTW_2032", number_name)
    elif len(number) > 40:
        errors.add("GTW_2033", number_name)
    elif not acceptable_card_number(number):
        errors.add("GTW_2034", number_name)
    if month is None:
        errors.add("GTW_2023", month_name)
    elif not EXPIRY_MONTH.match(month):
        errors.add("GTW_2024", month_name)
    if year is None:
        errors.add("GTW_2035", year_name)
    elif not EXPIRY_YEAR.match(year) or not 2000 <= int(year) <= 2999:
        errors.add("GTW_2066", year_name)
    if number is None or month is None or year is None or errors.items:
        return None
    return Card(number, month, year, _text(body, cvv_name), _text(body, "cardHolderName"))


@dataclass(frozen=True)
class StoredCredential:
    """Who starts a payment with stored card details (`cit-mit-trans.md`): the customer (`CIT`, `initial` on
    the one that stores the card) or the merchant (`MIT`, which must name the initial CIT's transaction)."""

    initiator: str | None
    initial: bool = False
    initial_transaction_id: int | None = None


def _upper_text(data: dict[str, Any], name: str) -> str | None:
    value = _text(data, name)
    return value.upper() if value is not None else None


def stored_credential_fields(
    body: dict[str, Any], errors: Errors, payment_type: str | None
) -> StoredCredential:
    """`additionalData`'s CIT/MIT fields. NetValve names no field for the initial transaction an MIT refers
    to: the sandbox takes `additionalData.initialTransactionId` (the CIT's `transactionID`), required."""
    data = body.get("additionalData")
    if data is None:
        return StoredCredential(None)
    if not isinstance(data, dict):
        errors.add("GTW_2063", "additionalData", "additionalData must be an object.")
        return StoredCredential(None)
    on_file = _upper_text(data, "credentialOnFileTransaction")
    schedule = _upper_text(data, "recurringScheduleType")
    if schedule is not None and schedule not in RECURRING_SCHEDULE_TYPES:
        errors.add("GTW_2063", "additionalData.recurringScheduleType", "Unknown recurringScheduleType.")
        schedule = None
    initial = (_text(data, "recurrenceMode") or "").lower() == "initial"
    merchant = on_file == "MIT" or (schedule or "").startswith("MIT_")
    customer = on_file == "CIT" or (schedule or "").startswith("CIT_") or initial
    if merchant and customer:
        detail = "CIT and MIT indicators conflict."
        errors.add("GTW_2063", "additionalData.credentialOnFileTransaction", detail)
    if not merchant:
        return StoredCredential("CIT" if customer else None, initial=initial or schedule == "CIT_COF")
    if payment_type is not None and payment_type != "TOKEN":
        errors.add("GTW_2063", "paymentType", "A merchant-initiated transaction pays with a TOKEN.")
    if _text(body, "cardSecurityCode") is not None:
        errors.add("GTW_2063", "cardSecurityCode", "No security code without the cardholder (MIT).")
    return StoredCredential("MIT", initial_transaction_id=_initial_transaction_id(data, errors))


def _initial_transaction_id(data: dict[str, Any], errors: Errors) -> int | None:
    raw = data.get("initialTransactionId")
    if raw is None or raw == "":
        errors.add("GTW_2048", "additionalData.initialTransactionId")
    elif isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    else:
        errors.add("GTW_2063", "additionalData.initialTransactionId", "Transaction ID must be an integer.")
    return None


@dataclass(frozen=True)
class ChargeRequest:
    amount: Decimal
    currency: str
    payment_type: str
    client_order_id: str | None
    routing: Routing
    card: Card | None
    payment_token: str | None
    description: str | None
    customer: dict[str, Any]
    three_ds: dict[str, Any] | None = None
    stored_credential: StoredCredential = StoredCredential(None)
    additional_data: dict[str, Any] | None = None


def charge_request(body: dict[str, Any]) -> ChargeRequest:
    errors = Errors()
    amount = amount_field(body, errors)
    currency = currency_field(body, errors)
    client_order_id = client_order_id_field(body, errors)
    routing = routing_fields(body, errors)
    payment_type = _text(body, "paymentType")
    if payment_type is None:
        errors.add("GTW_2092", "paymentType")
    elif payment_type not in PAYMENT_TYPES:
        errors.add("GTW_2093", "paymentType")
    elif payment_type == "WALLET":
        errors.add("GTW_9003", "walletType")
    payment_token = _text(body, "paymentToken")
    card = None
    if payment_type == "TOKEN" and payment_token is None:
        errors.add("GTW_2063", "paymentToken", "Payment Token is required for paymentType TOKEN.")
    elif payment_type == "CARD" and payment_token is None:
        card = card_fields(body, errors)
    cvv = _text(body, "cardSecurityCode")
    if payment_type == "TOKEN" and cvv is not None and not SECURITY_CODE.match(cvv):
        errors.add("GTW_2063", "cardSecurityCode", "Card Security Code must be 3 or 4 digits.")
    stored = stored_credential_fields(body, errors, payment_type)
    errors.raise_if_any()
    return ChargeRequest(
        amount=amount,
        currency=currency,
        payment_type=payment_type or "CARD",
        client_order_id=client_order_id,
        routing=routing,
        card=card,
        payment_token=payment_token,
        description=_text(body, "orderDesc"),
        customer={name: body[name] for name in CUSTOMER_FIELDS if name in body},
        three_ds=body["3DS"] if isinstance(body.get("3DS"), dict) else None,
        stored_credential=stored,
        additional_data=body.get("additionalData"),
    )


@dataclass(frozen=True)
class CreateTokenRequest:
    card: Card | None
    payment_token: str | None
    currency: str
    routing: Routing
    verify: bool


def create_token_request(body: dict[str, Any]) -> CreateTokenRequest:
    """`TokenizedCardInputDTO`: card fields, or an HPF `paymentToken` as `/sale` takes one; a currency only
    for the `verify` authorization."""
    errors = Errors()
    routing = routing_fields(body, errors)
    verify = body.get("verify", False)
    if not isinstance(verify, bool):
        errors.add("GTW_2063", "verify", "verify must be true or false.")
    currency = currency_field(body, errors) if verify is True or "currency" in body else ""
    payment_token = _text(body, "paymentToken")
    card = card_fields(body, errors) if payment_token is None else None
    errors.raise_if_any()
    return CreateTokenRequest(card, payment_token, currency, routing, verify is True)


def transaction_id_field(body: dict[str, Any], errors: Errors, name: str = "transactionID") -> int:
    raw = body.get(name)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    if raw is None or raw == "":
        errors.add("GTW_2048", name)
    else:
        errors.add("GTW_2063", name, "Transaction ID must be an integer.")
    return 0


def parse_transaction_id(raw: str | None, name: str) -> int:
    errors = Errors()
    value = transaction_id_field({name: raw}, errors, name)
    errors.raise_if_any()
    return value


@dataclass(frozen=True)
class CaptureRequest:
    transaction_id: int
    amount: Decimal
    final_capture: bool


def capture_request(body: dict[str, Any]) -> CaptureRequest:
    errors = Errors()
    transaction_id = transaction_id_field(body, errors)
    amount = amount_field(body, errors)
    options = body.get("captureOptions")
    final_capture = isinstance(options, dict) and options.get("finalCapture") is True
    errors.raise_if_any()
    return CaptureRequest(transaction_id, amount, final_capture)


@dataclass(frozen=True)
class RefundRequest:
    transaction_id: int
    amount: Decimal | None


def refund_request(body: dict[str, Any]) -> RefundRequest:
    errors = Errors()
    transaction_id = transaction_id_field(body, errors)
    amount = amount_field(body, errors, required=False) if body.get("amount") is not None else None
    errors.raise_if_any()
    return RefundRequest(transaction_id, amount)


def cancel_request(body: dict[str, Any]) -> int:
    errors = Errors()
    transaction_id = transaction_id_field(body, errors)
    errors.raise_if_any()
    return transaction_id


@dataclass(frozen=True)
class HppOrderRequest:
    amount: Decimal
    currency: str
    mode: TxType
    client_order_id: str | None
    routing: Routing
    description: str | None
    success_url: str
    cancel_url: str
    failed_url: str
    pending_url: str | None
    customer: dict[str, Any]


def _url_field(body: dict[str, Any], errors: Errors, name: str, *, required: bool) -> str | None:
    value = _text(body, name)
    if value is None:
        if required:
            errors.add("GTW_2075", name)
        return None
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        errors.add("GTW_2075", name)
    return value


def hpp_order_request(body: dict[str, Any]) -> HppOrderRequest:
    errors = Errors()
    amount = amount_field(body, errors)
    currency = currency_field(body, errors)
    client_order_id = client_order_id_field(body, errors)
    routing = routing_fields(body, errors, required=False)
    mode = HPP_MODES.get((_text(body, "mode") or "SALE").upper())
    if mode is None:
        errors.add("GTW_2062", "mode")
    success_url = _url_field(body, errors, "successUrl", required=True) or ""
    cancel_url = _url_field(body, errors, "cancelUrl", required=True) or ""
    failed_url = _url_field(body, errors, "failedUrl", required=True) or ""
    pending_url = _url_field(body, errors, "pendingUrl", required=False)
    customer = body.get("customerDetails")
    errors.raise_if_any()
    assert mode is not None
    return HppOrderRequest(
        amount=amount,
        currency=currency,
        mode=mode,
        client_order_id=client_order_id,
        routing=routing,
        description=_text(body, "orderDesc"),
        success_url=success_url,
        cancel_url=cancel_url,
        failed_url=failed_url,
        pending_url=pending_url,
        customer=customer if isinstance(customer, dict) else {},
    )
