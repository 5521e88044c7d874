"""3-D Secure v2: what `/3ds/v2/initialization` does with each test card, and the authentication's state.

Test cards (any future expiry; the card may come as `paymentToken`, resolved like `/sale` resolves it):

- frictionless (`AUTHENTICATED` with `eci`/`cavv` at once): `4100000000000100`, `5100000000000107`,
  `4000000000002701` and any other valid card;
- challenge (`ACS_REQUIRED`; the challenge page's button decides): `4100000000005000`, `5100000000005007`,
  `4000000000001091`;
- challenge that fails whichever button is pressed (`RESULT_FAILED`): `4100000000300005`;
- device data (`INITIALIZED`), then `/3ds/authentication` asks for a challenge: `4100000000600008`;
- device data, then `/3ds/authentication` authenticates frictionless: `4100000000700006`;
- authentication failed (`3DS_1000`, `AUTHENTICATION_FAILED`, `errorCode` `3DS_2005`): `4100000000500000`;
- 3DS provider error (`3DS_2009`, `SOFT DECLINE`, no provider response): `4100000000400003`.

`/3ds/authentication` needs what NetValve's v2 authentication guide marks required (`amount`, `currency`,
`customerName`, `customerLastName`, `customerCountryCode`, `transID`, a MID) and answers 400 without them.
`/3ds/result` asked before the shopper answered the challenge answers NetValve's `3DS_2011` ("ACS not
completed by user") with the non-final status `ACS_REQUIRED`; once the challenge was answered it answers
`3DS_1000` with `COMPLETED` or `RESULT_FAILED`.

The challenge page (`redirectUrl`) has "Complete" and "Fail" buttons. Without `merchantRedirectUrl` it posts
NetValve's message `{result, threeDsResponse: {status, transID, providerErrorMessage}}` to the parent frame;
with it, it redirects to `merchantRedirectUrl?result=…&transID=…&threeDsStatus=…`. The device-data page posts
`{result: "SUCCESS", threeDsResponse: {status: "DEVICE_DATA_COLLECTED", transID}}` to its parent.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from netvalve_sandbox.cards import Card


class Flow(StrEnum):
    FRICTIONLESS = "frictionless"
    CHALLENGE = "challenge"
    CHALLENGE_FAILS = "challenge_fails"
    DEVICE_DATA_CHALLENGE = "device_data_challenge"
    DEVICE_DATA_FRICTIONLESS = "device_data_frictionless"
    AUTHENTICATION_FAILED = "authentication_failed"
    PROVIDER_ERROR = "provider_error"


THREEDS_CARDS: dict[str, Flow] = {
    "4100000000005000": Flow.CHALLENGE,
    "5100000000005007": Flow.CHALLENGE,
    "4000000000001091": Flow.CHALLENGE,
    "4100000000300005": Flow.CHALLENGE_FAILS,
    "4100000000600008": Flow.DEVICE_DATA_CHALLENGE,
    "4100000000700006": Flow.DEVICE_DATA_FRICTIONLESS,
    "4100000000500000": Flow.AUTHENTICATION_FAILED,
    "4100000000400003": Flow.PROVIDER_ERROR,
}
SUCCESS = "3DS_1000"
AUTHENTICATION_FAILED_CODE = "3DS_2005"
PROVIDER_ERROR_CODE = "3DS_2009"
NOT_FOUND_CODE = "3DS_2001"
ACS_NOT_COMPLETED_CODE = "3DS_2011"


def flow_for(card: Card) -> Flow:
    return THREEDS_CARDS.get(card.number, Flow.FRICTIONLESS)


class Stage(StrEnum):
    INITIALIZED = "INITIALIZED"
    ACS_REQUIRED = "ACS_REQUIRED"
    ACS_COMPLETED = "ACS_COMPLETED"
    ACS_FAILED = "ACS_FAILED"
    AUTHENTICATED = "AUTHENTICATED"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"


@dataclass
class ThreeDSSession:
    trans_id: str
    page_token: str
    card: Card
    flow: Flow
    amount: Decimal
    currency: str
    merchant_redirect_url: str | None
    stage: Stage
    ds_transaction_id: str
    cavv: str
    card_holder_name: str | None = None
    device_data_collected: bool = False
    # The fields `/3ds/authentication` last received, for inspection.
    authentication: dict[str, Any] | None = None

    @classmethod
    def start(
        cls,
        card: Card,
        amount: Decimal,
        currency: str,
        merchant_redirect_url: str | None,
        card_holder_name: str | None = None,
    ) -> ThreeDSSession:
        flow = flow_for(card)
        if flow in (Flow.CHALLENGE, Flow.CHALLENGE_FAILS):
            stage = Stage.ACS_REQUIRED
        elif flow in (Flow.DEVICE_DATA_CHALLENGE, Flow.DEVICE_DATA_FRICTIONLESS):
            stage = Stage.INITIALIZED
        elif flow is Flow.AUTHENTICATION_FAILED:
            stage = Stage.AUTHENTICATION_FAILED
        else:
            stage = Stage.AUTHENTICATED
        return cls(
            trans_id=str(uuid.uuid4()),
            page_token=secrets.token_urlsafe(24),
            card=card,
            flow=flow,
            amount=amount,
            currency=currency,
            merchant_redirect_url=merchant_redirect_url,
            stage=stage,
            ds_transaction_id=str(uuid.uuid4()),
            cavv=secrets.token_urlsafe(20),
            card_holder_name=card_holder_name,
        )

    def authenticate_after_device_data(self) -> None:
        if self.stage is Stage.INITIALIZED:
            self.stage = (
                Stage.ACS_REQUIRED if self.flow is Flow.DEVICE_DATA_CHALLENGE else Stage.AUTHENTICATED
            )

    def answer_challenge(self, complete: bool) -> None:
        if self.stage is Stage.ACS_REQUIRED:
            passed = complete and self.flow is not Flow.CHALLENGE_FAILS
            self.stage = Stage.ACS_COMPLETED if passed else Stage.ACS_FAILED

    def inspection(self) -> dict[str, Any]:
        """What `GET /_sandbox/threeds` shows: what NetValve was sent, never the card number."""
        return {
            "transID": self.trans_id,
            "status": self.stage.value,
            "amount": self.amount,
            "currency": self.currency,
            "cardHolderName": self.card_holder_name,
            "authentication": self.authentication,
        }

    @property
    def eci(self) -> str:
        return "02" if self.card.brand == "MASTERCARD" else "05"
