"""The stored-credential part of a sale (``CardOnFile``) and the fields NetValve documents for it
(``cit-mit-trans.md``, ``netvalve-tokens.md``; netvalve-api.md §5.1):

* ``initial``: the card sale that saves the card, paid with the hosted fields' token and marked as the
  initial customer-initiated credential-on-file transaction (``CIT_COF``, ``recurrenceMode: Initial``);
* ``customer``: the shopper pays with a saved card: a ``TOKEN`` sale, ``credentialOnFileTransaction: CIT``;
* ``merchant``: the merchant charges a saved card without the shopper (``MIT_UNSCHEDULED_COF``), naming the
  initial CIT's transaction. NetValve names no field for that reference: ``additionalData.
  initialTransactionId`` is ours (the sandbox requires it), to confirm with NetValve.

No security code is sent with a saved card: NetValve requires none for a token sale, and nobody may keep one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from app.gateway.wire import AdditionalData

CardOnFileKind = Literal["initial", "customer", "merchant"]
PaymentType = Literal["CARD", "TOKEN"]

_ADDITIONAL_DATA: Final[dict[str, AdditionalData]] = {
    "initial": AdditionalData(
        request_transaction_type="RECURRING", recurring_schedule_type="CIT_COF", recurrence_mode="Initial"
    ),
    "customer": AdditionalData(credential_on_file_transaction="CIT", request_transaction_type="ECOMMERCE"),
    "merchant": AdditionalData(
        request_transaction_type="RECURRING",
        recurring_schedule_type="MIT_UNSCHEDULED_COF",
        recurrence_mode="Repeated",
    ),
}


@dataclass(frozen=True)
class CardOnFile:
    """Who starts a payment with a stored card: ``token`` is the saved ``GATEWAY_TOKEN`` (none for the
    ``initial`` sale, which pays with the hosted fields' token); ``initial_transaction_id`` is NetValve's
    ``transactionID`` of the initial CIT, for a ``merchant`` charge only."""

    kind: CardOnFileKind
    token: str | None = field(default=None, repr=False)
    initial_transaction_id: int | None = None

    @property
    def saved(self) -> bool:
        """Paid with the saved token (a ``TOKEN`` sale) rather than with card data."""
        return self.kind != "initial"

    def problems(self, payment_token: str) -> list[str]:
        """The fields NetValve could not take, given the token the sale pays with."""
        found: list[str] = []
        if self.saved != bool(self.token):
            found.append("cardOnFile.token")
        elif self.saved and payment_token != self.token:
            found.append("paymentToken")
        reference = self.initial_transaction_id
        if (reference is None or reference <= 0) if self.kind == "merchant" else reference is not None:
            found.append("cardOnFile.initialTransactionId")
        return found

    @property
    def payment_type(self) -> PaymentType:
        return "TOKEN" if self.saved else "CARD"

    def additional_data(self) -> AdditionalData:
        marking = _ADDITIONAL_DATA[self.kind]
        if self.kind != "merchant":
            return marking
        return AdditionalData(
            **marking.model_dump(exclude_none=True), initial_transaction_id=self.initial_transaction_id
        )
