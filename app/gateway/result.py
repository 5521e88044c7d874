"""What one NetValve call is (``CallSpec``) and what it produced (``GatewayResult``): outcomes are values,
never exceptions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from app.gateway.answers import IssuedCard, TransactionResponse
from app.gateway.codes import DECLINES, NO_ANSWER, NOTHING_HAPPENED, Outcome, Refusal, refusal
from app.gateway.operations import MUTATING_OPERATIONS, Operation

D = TypeVar("D")


@dataclass(frozen=True)
class GatewayResult(Generic[D]):
    """What one client call produced. Gateway outcomes are values here, never exceptions.

    * ``request_sent`` is False only when no byte reached NetValve (connect error, circuit open,
      pool timeout, missing credentials): then nothing can have happened there.
    * For a mutating call, ``UNKNOWN`` and ``UNAVAILABLE`` with ``request_sent=True`` mean NetValve
      may have acted (``is_uncertain``): look the transaction up before any new attempt.
    * ``MISMATCH`` is an approval of a different amount or currency than was sent: not a success.
    * ``response`` is the parsed ``TransactionResponse`` of envelope calls; ``details`` is the
      lookup payload (``HpfSession``, ``TransactionDetails``, ``OrderDetails``, backoffice scripts).
    * For ``inquiry`` the outcome is the transaction's own result; for ``get_transaction`` and
      ``get_order`` APPROVED means "found", and the transaction state is in ``details``.
    """

    outcome: Outcome
    operation: Operation
    http_status: int | None
    code: str | None
    message: str | None
    response: TransactionResponse | None
    details: D | None
    request_sent: bool
    retry_after: float | None
    duration_ms: float
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.APPROVED

    @property
    def is_uncertain(self) -> bool:
        return self.request_sent and self.outcome in (Outcome.UNKNOWN, Outcome.UNAVAILABLE)

    @property
    def transaction_id(self) -> int | None:
        return self.response.transaction_id if self.response is not None else None

    @property
    def declined(self) -> bool:
        return self.outcome in DECLINES

    @property
    def nothing_happened(self) -> bool:
        """NetValve certainly did nothing: the request never left, or it was refused as it stood."""
        return not self.request_sent or self.outcome in NOTHING_HAPPENED

    @property
    def answered(self) -> bool:
        """A read-only look-up got an answer that can settle something."""
        return self.request_sent and self.outcome not in NO_ANSWER

    @property
    def issued_card(self) -> IssuedCard | None:
        """The gateway token (and masked card) an approved payment or ``/createToken`` issued."""
        return self.response.issued_card if self.ok and self.response is not None else None

    @property
    def refusal(self) -> Refusal | None:
        return refusal(self.outcome, self.code, self.message)


BreakerVerdict = Literal["success", "failure", "neutral"]
BodyKind = Literal["envelope", "details", "plain"]


@dataclass(frozen=True)
class CallSpec(Generic[D]):
    operation: Operation
    method: Literal["GET", "POST"]
    url: str
    headers: Mapping[str, str]
    config_error: str | None = None
    body: bytes | None = None
    params: Mapping[str, str] | None = None
    reference: int | str | None = None
    kind: BodyKind = "envelope"
    parse_details: Callable[[Any], D] | None = None
    identity_keys: frozenset[str] = frozenset()
    expect_amount: Decimal | None = None
    expect_currency: str | None = None
    secrets: tuple[str, ...] = ()

    @property
    def mutating(self) -> bool:
        return self.operation in MUTATING_OPERATIONS


@dataclass(frozen=True)
class Attempt(Generic[D]):
    outcome: Outcome
    sent: bool
    breaker: BreakerVerdict
    retryable: bool
    http_status: int | None = None
    code: str | None = None
    message: str | None = None
    response: TransactionResponse | None = None
    details: D | None = None
    retry_after: float | None = None
