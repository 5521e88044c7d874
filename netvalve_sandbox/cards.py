"""Test cards and magic amounts that decide the outcome of `/sale`, `/authorize` and the HPP checkout.

Checked in this order:

1. A forced decline (`x-sandbox-fault: decline[=CODE]` or the run-level `fault` knob) wins.
2. Magic amounts:
   - `1002.00` -> `GTW_1002` "Transaction status is Pending." (`PENDING`). After `pending_settle_seconds`
     (default 1 s) the transaction settles as approved (`GTW_1000`); the next `/inquiry` shows it and the
     success webhook (`PURCHASED` / `AUTHORISED`) fires.
   - `9999.00` -> `GTW_9999` "Transaction Processing Error" (`HARD DECLINE`, HTTP 200, no bank code).
3. Declining test cards:
   - `4532802195368940` -> `BNK_2005` "Do Not Honour", `SOFT DECLINE`, bank code `05`
     (NetValve's documented card; it does not pass Luhn, so the table is checked before Luhn).
   - `4000000000009995` -> `BNK_2011` "Insufficient Funds", `SOFT DECLINE`, bank code `51`.
   - `4000000000000002` -> `BNK_2000` "Refer To Card Issuer.", `SOFT DECLINE`, bank code `01` (a decline).
   - `4100000000300005` -> `BNK_3002` "Lost Card - Pick Up", `HARD DECLINE`, bank code `41`.
4. An expiry date in the past -> `BNK_2004` "Expired Card.", bank code `54`.
5. Everything else that passes Luhn is approved (`GTW_1000`, bank code `00`), including NetValve's documented
   approving cards: `6011000993026909`, `4012000098765439`, `371449635392376`, `4716160000000009` and the
   3DS frictionless cards `4100000000000100`, `5100000000000107`, `4000000000002701`.
   A card number that fails Luhn is a 400 validation error (`GTW_2034`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from netvalve_sandbox.codes import APPROVED, MESSAGES, PENDING, code_type


@dataclass(frozen=True)
class Outcome:
    code: str
    bank_code: str | None = None
    bank_message: str | None = None

    @property
    def message(self) -> str:
        return MESSAGES[self.code]

    @property
    def code_type(self) -> str:
        return code_type(self.code)

    @property
    def approved(self) -> bool:
        return self.code == APPROVED

    @property
    def pending(self) -> bool:
        return self.code == PENDING


APPROVED_OUTCOME = Outcome(APPROVED, "00", "SUCCESS")
PENDING_OUTCOME = Outcome(PENDING)
PROCESSING_ERROR = Outcome("GTW_9999")
EXPIRED_CARD = Outcome("BNK_2004", "54", "Expired Card")
# A capture of an authorization the issuer has released (older than `authorization_lifetime_days`).
LAPSED_AUTHORIZATION = Outcome("BNK_2001")

PENDING_AMOUNT = Decimal("1002.00")
PROCESSING_ERROR_AMOUNT = Decimal("9999.00")

APPROVING_TEST_CARDS = frozenset(
    {
        "6011000993026909",
        "4012000098765439",
        "371449635392376",
        "4716160000000009",
        "4100000000000100",
        "5100000000000107",
        "4000000000002701",
    }
)
DECLINING_TEST_CARDS: dict[str, Outcome] = {
    "4532802195368940": Outcome("BNK_2005", "05", "Do Not Honor"),
    "4000000000009995": Outcome("BNK_2011", "51", "Insufficient Funds"),
    "4000000000000002": Outcome("BNK_2000", "01", "Refer To Card Issuer"),
    "4100000000300005": Outcome("BNK_3002", "41", "Lost Card, Pick Up"),
}
BANK_CODES_FOR_FORCED_DECLINES: dict[str, tuple[str, str]] = {
    outcome.code: (outcome.bank_code or "", outcome.bank_message or "")
    for outcome in DECLINING_TEST_CARDS.values()
}


@dataclass(frozen=True)
class Card:
    number: str
    expiry_month: str
    expiry_year: str
    cvv: str | None = None
    holder: str | None = None

    @property
    def masked(self) -> str:
        return mask(self.number)

    @property
    def brand(self) -> str:
        return card_brand(self.number)

    def expired(self, moment: datetime) -> bool:
        return (int(self.expiry_year), int(self.expiry_month)) < (moment.year, moment.month)


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def acceptable_card_number(number: str) -> bool:
    return number in DECLINING_TEST_CARDS or luhn_valid(number)


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "VISA"
    if number[:2] in {"34", "37"}:
        return "AMEX"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "DISCOVER"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "MASTERCARD"
    return "UNKNOWN"


def mask(number: str) -> str:
    """`4012000098765439` -> `401200******5439`, as NetValve masks PANs."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def forced_outcome(code: str) -> Outcome:
    bank_code, bank_message = BANK_CODES_FOR_FORCED_DECLINES.get(code, (None, None))
    return Outcome(code, bank_code, bank_message)


def decide_outcome(card: Card, amount: Decimal, moment: datetime) -> Outcome:
    if amount == PROCESSING_ERROR_AMOUNT:
        return PROCESSING_ERROR
    if amount == PENDING_AMOUNT:
        return PENDING_OUTCOME
    declined = DECLINING_TEST_CARDS.get(card.number)
    if declined is not None:
        return declined
    if card.expired(moment):
        return EXPIRED_CARD
    return APPROVED_OUTCOME
