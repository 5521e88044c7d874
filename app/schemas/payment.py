"""Request and response models of the storefront's payment routes (``/payment`` and the 3-D Secure steps
that finish it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.models import PaymentStatus
from app.schemas.netvalve import PayerIds, Strict
from app.schemas.values import ONE_PAYER_SCHEMA

# Fields a storefront must never send: the amount comes from Medusa and the card never reaches us.
_FORBIDDEN_PAYMENT_FIELDS = (
    "amount",
    "currency",
    "currency_code",
    "card_number",
    "cardNumber",
    "cvv",
    "card_security_code",
    "cardSecurityCode",
    "expiry",
    "card",
)


# --- Payment (sale / authorize) ---------------------------------------------------------------------


class PayBase(PayerIds):
    pass


class BrowserInfo(Strict):
    """What the shopper's browser tells 3-D Secure about itself (``NETVALVE_THREEDS=on``)."""

    user_agent: str = Field(min_length=1, max_length=2048)
    accept_header: str = Field(min_length=1, max_length=2048)
    language: str = Field(min_length=1, max_length=35, pattern=r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")
    color_depth: int = Field(ge=1, le=48)
    screen_height: int = Field(ge=0, le=65535)
    screen_width: int = Field(ge=0, le=65535)
    # Minutes from local time to UTC, as JavaScript's Date.getTimezoneOffset() gives them.
    time_zone: int = Field(ge=-840, le=720)
    java_enabled: bool = False


_STRING: dict[str, Any] = {"type": "string"}
_ABSENT: dict[str, Any] = {"type": "null"}
# ``PayRequest._one_card`` in its schema: a saved card pays alone, with no HPF token and no card to save.
_SAVED_CARD_ALONE: dict[str, Any] = {
    "anyOf": [
        {"properties": {"saved_card_id": _ABSENT}},
        {
            "required": ["saved_card_id"],
            "properties": {"saved_card_id": _STRING, "payment_token": _ABSENT, "save_card": {"const": False}},
        },
    ]
}
# ``ThreeDSFinishRequest._one_card`` in its schema: the HPF token or the saved card, exactly one.
_ONE_CARD: dict[str, Any] = {
    "oneOf": [
        {"required": [given], "properties": {given: _STRING, other: _ABSENT}}
        for given, other in (("payment_token", "saved_card_id"), ("saved_card_id", "payment_token"))
    ]
}


class PayRequest(PayBase):
    """Pay for a cart (or a payment collection) with the token NetValve's hosted fields produced. No amount:
    Medusa decides."""

    model_config = ConfigDict(json_schema_extra={"allOf": [ONE_PAYER_SCHEMA, _SAVED_CARD_ALONE]})

    payment_token: str | None = Field(default=None, min_length=1, max_length=256)
    # Save the card for the customer's next checkouts (their consent; a registered customer's cart only).
    save_card: bool = False
    # Pay with a card the customer saved, in place of ``payment_token``.
    saved_card_id: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")
    browser: BrowserInfo | None = None
    # Where NetValve sends the browser back after a full-page challenge; an origin in STORE_CORS.
    threeds_return_url: str | None = Field(default=None, min_length=1, max_length=2048)

    @model_validator(mode="before")
    @classmethod
    def _refuse_client_amounts_and_cards(cls, data: Any) -> Any:
        if isinstance(data, dict):
            present = [name for name in _FORBIDDEN_PAYMENT_FIELDS if name in data]
            if present:
                raise ValueError(
                    f"{', '.join(present)} must not be sent: the amount and currency come from Medusa "
                    "and card data is entered only in NetValve's hosted fields"
                )
        return data

    @model_validator(mode="after")
    def _one_card(self) -> PayRequest:
        if self.saved_card_id is not None and (self.payment_token is not None or self.save_card):
            raise ValueError("saved_card_id pays with a saved card: give no payment_token and no save_card")
        return self


class PayResponse(PayBase):
    """The outcome and nothing else: every shopper holds the publishable key, and card, transaction id and
    decline text answer a card tester's questions. The service key reads them from ``/status``."""

    status: PaymentStatus
    currency_code: str
    amount: Decimal
    # The card this payment saved, when the shopper asked to save it (``save_card``); absent otherwise.
    saved_card_id: str | None = Field(default=None, exclude_if=lambda value: value is None)


class NextAction(BaseModel):
    """What the storefront must do before the payment can go on (3-D Secure)."""

    type: Literal["threeds_challenge", "threeds_device_data"]
    url: str
    # frame: open ``url`` in an iframe (hidden for device data) and wait for NetValve's postMessage;
    # redirect: send the whole page to ``url``; NetValve sends it back to ``threeds_return_url``.
    mode: Literal["frame", "redirect"]


class PayActionResponse(PayResponse):
    next_action: NextAction | None = None


class ThreeDSFinishRequest(PayBase):
    """Go on after the device-data frame or the challenge: the same HPF token, or saved card, the payment
    began with."""

    model_config = ConfigDict(json_schema_extra={"allOf": [ONE_PAYER_SCHEMA, _ONE_CARD]})

    payment_token: str | None = Field(default=None, min_length=1, max_length=256)
    saved_card_id: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")

    @model_validator(mode="after")
    def _one_card(self) -> ThreeDSFinishRequest:
        if (self.payment_token is None) == (self.saved_card_id is None):
            raise ValueError("give exactly one of payment_token, saved_card_id")
        return self
