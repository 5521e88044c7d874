"""3-D Secure v2 on the wire: ``/3ds/v2/initialization``, ``/3ds/authentication``, ``/3ds/result``, and
what their answers mean for a payment (``ThreeDSStep``), so that no other package reads NetValve's 3DS
vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Annotated, Any, Final, Self

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from app.gateway.answers import WireResponse
from app.gateway.codes import THREEDS_NOT_COMPLETED_CODES
from app.gateway.result import GatewayResult
from app.gateway.wire import (
    STATE_MAX,
    ZIP_CODE_MAX,
    AbsoluteUrl,
    CountryCode,
    Email,
    IpAddress,
    ThreeDSData,
    WireAmount,
    WireRequest,
    _exactly_one_mid,
)
from app.gateway.wire import Currency as CurrencyCode

# Final: the authentication is over and failed (``AUTHENTICATED_FAILED`` is how NetValve's guide spells it).
_FAILED_STATUSES: Final = frozenset(
    {
        "AUTHENTICATION_FAILED",
        "AUTHENTICATED_FAILED",
        "RESULT_FAILED",
        "ACS_FAILED",
        "INITIALIZATION_FAILED",
    }
)
_CHALLENGE_STATUSES: Final = frozenset({"ACS_REQUIRED"})
_DEVICE_DATA_STATUSES: Final = frozenset({"INITIALIZED"})
# Not final: the shopper's browser (or NetValve) has not finished its part yet.
_UNFINISHED_STATUSES: Final = frozenset(
    {"INITIALIZED", "DEVICE_DATA_COLLECTED", "ACS_REQUIRED", "ACS_COMPLETED"}
)
_THREEDS_CODE_PREFIX: Final = "3DS_"
CARD_HOLDER_NAME_MAX: Final = 128


def _card_holder_name(value: object) -> object:
    # NetValve takes at most 128 characters (``@Size(max = 128)``): a longer billing name is cut, not refused.
    if isinstance(value, str):
        return value.strip()[:CARD_HOLDER_NAME_MAX].strip() or None
    return value


CardHolderName = Annotated[str | None, BeforeValidator(_card_holder_name)]
Name = Annotated[str, StringConstraints(min_length=1)]


class ThreeDSRouting(WireRequest):
    """Exactly one of the MID fields, as every NetValve request names the merchant account."""

    netvalve_mid_id: str | None = None
    mid_id: int | None = None
    site_id: str | None = None

    @model_validator(mode="after")
    def _one_mid(self) -> Self:
        _exactly_one_mid(self.netvalve_mid_id, self.mid_id, self.site_id)
        return self


class ThreeDSCustomer(ThreeDSRouting):
    customer_ip: IpAddress | None = None
    customer_email: Email | None = None
    customer_phone: Annotated[str, StringConstraints(max_length=20)] | None = None


class ThreeDSInitRequest(ThreeDSCustomer):
    """Body of ``POST /3ds/v2/initialization`` for an HPF token (``paymentToken`` in place of card data)."""

    amount: WireAmount
    currency: CurrencyCode
    payment_token: Annotated[str, StringConstraints(min_length=1)] = Field(repr=False)
    merchant_redirect_url: AbsoluteUrl | None = None
    user_agent: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    browser_header: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    browser_java_enabled: bool
    browser_language: Annotated[str, StringConstraints(min_length=1, max_length=35)]
    browser_color_depth: int
    browser_screen_height: int
    browser_screen_width: int
    browser_time_zone: int
    challenge_indicator: str | None = None
    card_holder_name: CardHolderName = None


class ThreeDSAuthRequest(ThreeDSCustomer):
    """Body of ``POST /3ds/authentication``, after the device-data frame posted back: what NetValve's v2 3DS
    authentication guide marks required (its ``customerName`` is the first name), the optional address."""

    trans_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(alias="transID")
    amount: WireAmount
    currency: CurrencyCode
    customer_name: Name
    customer_last_name: Name
    customer_country_code: CountryCode
    customer_address: str | None = None
    customer_city: str | None = None
    customer_state: Annotated[str, StringConstraints(max_length=STATE_MAX)] | None = None
    customer_zip_code: Annotated[str, StringConstraints(max_length=ZIP_CODE_MAX)] | None = None
    card_holder_name: CardHolderName = None


class ThreeDSResultRequest(ThreeDSRouting):
    """Body of ``POST /3ds/result``, after the challenge."""

    trans_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(alias="transID")


class ThreeDSProviderResponse(WireResponse):
    """``threeDSProviderResponse``. The URL carries a JWT and ``cavv`` is a proof: neither is in repr."""

    trans_id: str | None = Field(default=None, alias="transID")
    reference_id: str | None = None
    three_ds2_transaction_id: str | None = Field(default=None, alias="threeDs2TransactionId")
    eci: str | None = None
    cavv: str | None = Field(default=None, repr=False)
    challenge_required: bool | None = None
    redirect_url: AbsoluteUrl | None = Field(default=None, repr=False)
    status: str | None = None
    three_ds_version: str | None = Field(default=None, alias="threeDsVersion")
    error_code: str | None = None
    error_message: str | None = None


def parse_provider_response(body: Any) -> ThreeDSProviderResponse:
    inner = body.get("threeDSProviderResponse") if isinstance(body, Mapping) else None
    if not isinstance(inner, Mapping):
        raise ValueError("a 3DS answer without threeDSProviderResponse")
    return ThreeDSProviderResponse.model_validate(inner)


class ThreeDSKind(StrEnum):
    """What a 3DS answer asks of the payment next."""

    AUTHENTICATED = "authenticated"  # eci and cavv: the sale may follow
    CHALLENGE = "challenge"  # the shopper must answer the issuer's challenge
    DEVICE_DATA = "device_data"  # a hidden frame collects device data, then /3ds/authentication
    FAILED = "failed"  # not authenticated: a decline
    WAITING = "waiting"  # asked too early (``3DS_2011``, a status not final yet): the same step stands
    UNANSWERED = "unanswered"  # no usable answer: nothing is known, nothing was charged


@dataclass(frozen=True)
class ThreeDSStep:
    kind: ThreeDSKind
    transaction_id: str | None = None
    url: str | None = None
    code: str | None = None
    proof: ThreeDSData | None = None


def _provider_step(provider: ThreeDSProviderResponse) -> ThreeDSStep:
    status = (provider.status or "").strip().upper()
    trans_id = provider.trans_id
    if status in _FAILED_STATUSES:
        return ThreeDSStep(ThreeDSKind.FAILED, trans_id, code=provider.error_code or status)
    if provider.eci and provider.cavv:
        proof = ThreeDSData(
            ds_transaction_id=provider.three_ds2_transaction_id,
            eci=provider.eci,
            cavv=provider.cavv,
            version=provider.three_ds_version,
        )
        return ThreeDSStep(ThreeDSKind.AUTHENTICATED, trans_id, proof=proof, code=status or None)
    if provider.redirect_url and (status in _CHALLENGE_STATUSES or provider.challenge_required):
        return ThreeDSStep(ThreeDSKind.CHALLENGE, trans_id, url=provider.redirect_url, code=status)
    if provider.redirect_url and status in _DEVICE_DATA_STATUSES:
        return ThreeDSStep(ThreeDSKind.DEVICE_DATA, trans_id, url=provider.redirect_url, code=status)
    if status in _UNFINISHED_STATUSES:
        return ThreeDSStep(ThreeDSKind.WAITING, trans_id, code=status)
    # Completed without a proof, or a status we do not know: the sale cannot carry an authentication.
    return ThreeDSStep(ThreeDSKind.FAILED, trans_id, code=provider.error_code or status or None)


def threeds_step(result: GatewayResult[ThreeDSProviderResponse]) -> ThreeDSStep:
    """What one 3DS call's answer means for the payment. ``3DS_2010``/``3DS_2011`` (device data or challenge
    not completed yet) fail it only with a final status; without a readable one, nothing says it is over."""
    code = (result.code or "").strip().upper()
    not_completed = code in THREEDS_NOT_COMPLETED_CODES
    if result.ok and result.details is not None:
        step = _provider_step(result.details)
        return replace(step, code=result.code) if not_completed and step.kind is ThreeDSKind.WAITING else step
    if not_completed:
        return ThreeDSStep(ThreeDSKind.WAITING, code=result.code)
    if result.declined or code.startswith(_THREEDS_CODE_PREFIX):
        return ThreeDSStep(ThreeDSKind.FAILED, code=result.code)
    return ThreeDSStep(ThreeDSKind.UNANSWERED, code=result.code)
