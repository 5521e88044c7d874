"""In-memory gateway state: transactions, orders, HPF sessions and tokens, guarded by one asyncio.Lock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from netvalve_sandbox.cards import Card, Outcome
from netvalve_sandbox.threeds import ThreeDSSession

FIRST_TRANSACTION_ID = 1001
FIRST_ORDER_ID = 70001
ZERO = Decimal("0.00")


class TxType(StrEnum):
    SALE = "SALE"
    AUTHORIZATION = "AUTHORIZATION"
    CAPTURE = "CAPTURE"
    REFUND = "REFUND"
    CANCEL = "CANCEL"


class Channel(StrEnum):
    API = "API"
    HPF = "HOSTED_PAYMENT_FIELDS"
    HPP = "HPP"
    TOKEN_SAVING = "GATEWAY_TOKEN_SAVING"  # noqa: S105 (a channel, not a credential)


@dataclass(frozen=True)
class Routing:
    """How the merchant account was named; NetValve allows several, which disables smart routing."""

    mid_id: int | None = None
    netvalve_mid_id: str | None = None
    site_id: str | None = None

    @property
    def identifiers(self) -> list[str]:
        named = {"midId": self.mid_id, "netvalveMidId": self.netvalve_mid_id, "siteId": self.site_id}
        return [name for name, value in named.items() if value is not None]

    def describe(self) -> dict[str, Any]:
        return {
            "midId": self.mid_id,
            "netvalveMidId": self.netvalve_mid_id,
            "siteId": self.site_id,
            "identifiers": self.identifiers,
            "multipleIdentifiers": len(self.identifiers) > 1,
            "smartRouting": self.identifiers == ["siteId"],
        }


@dataclass
class Transaction:
    id: int
    order_id: int
    type: TxType
    amount: Decimal
    currency: str
    client_order_id: str | None
    outcome: Outcome
    card: Card | None
    routing: Routing
    channel: Channel
    payment_type: str
    trace_id: str
    created_at: datetime
    parent_id: int | None = None
    payment_token: str | None = None
    payment_token_type: str | None = None
    auth_code: str | None = None
    bank_transaction_id: str | None = None
    settles_at: float | None = None
    updated_at: datetime | None = None
    children: list[int] = field(default_factory=list)
    three_ds: dict[str, Any] | None = None
    additional_data: dict[str, Any] | None = None
    chargebacks: list[Chargeback] = field(default_factory=list)


@dataclass(frozen=True)
class Chargeback:
    """A chargeback (or alert) NetValve's dispute desk recorded on a transaction."""

    id: str
    type: str
    source: str
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True)
class HppPage:
    mode: TxType
    token: str
    success_url: str
    cancel_url: str
    failed_url: str
    pending_url: str | None
    customer: dict[str, Any]


@dataclass
class Order:
    id: int
    client_order_id: str | None
    amount: Decimal
    currency: str
    routing: Routing
    created_at: datetime
    description: str | None = None
    hpp: HppPage | None = None
    transaction_ids: list[int] = field(default_factory=list)
    updated_at: datetime | None = None


@dataclass
class GatewayToken:
    """A `GATEWAY_TOKEN` and the card behind it; `transaction_id` is the sale, authorization or `/createToken`
    verification that issued it (none for `/createToken` without `verify`)."""

    token: str
    card: Card
    issued_by: str
    transaction_id: int | None
    created_at: datetime
    cit_transaction_ids: list[int] = field(default_factory=list)


@dataclass
class HpfSession:
    """A hosted-fields session; `paid_by` is the approved payment its card made, `initial_cit` whether
    that payment was marked as the initial customer-initiated one (`/createToken` may follow it)."""

    token: str
    jwt: str
    issued_at: float
    card: Card | None = None
    used: bool = False
    paid_by: int | None = None
    initial_cit: bool = False


class Ledger:
    """Everything the simulator knows; callers hold `lock` around any read-modify-write."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.reset()

    def reset(self) -> None:
        self.transactions: dict[int, Transaction] = {}
        self.orders: dict[int, Order] = {}
        self.orders_by_client_order_id: dict[str, int] = {}
        self.orders_by_hpp_token: dict[str, int] = {}
        self.hpf_sessions: dict[str, HpfSession] = {}
        self.gateway_tokens: dict[str, GatewayToken] = {}
        self.backoffice_tokens: dict[str, float] = {}
        self.threeds_sessions: dict[str, ThreeDSSession] = {}
        self.threeds_by_page: dict[str, str] = {}
        self._next_transaction_id = FIRST_TRANSACTION_ID
        self._next_order_id = FIRST_ORDER_ID

    def next_transaction_id(self) -> int:
        self._next_transaction_id += 1
        return self._next_transaction_id - 1

    def next_order_id(self) -> int:
        self._next_order_id += 1
        return self._next_order_id - 1

    def children(self, txn: Transaction, tx_type: TxType) -> list[Transaction]:
        """Approved children of one type; declined attempts never change the parent's state."""
        found = (self.transactions[child_id] for child_id in txn.children)
        return [child for child in found if child.type is tx_type and child.outcome.approved]

    def capture_of(self, auth: Transaction) -> Transaction | None:
        captures = self.children(auth, TxType.CAPTURE)
        return captures[0] if captures else None

    def is_cancelled(self, auth: Transaction) -> bool:
        return self.capture_of(auth) is None and bool(self.children(auth, TxType.CANCEL))

    def refunded(self, txn: Transaction) -> Decimal:
        return sum((child.amount for child in self.children(txn, TxType.REFUND)), ZERO)

    def refund_target(self, txn: Transaction) -> Transaction | None:
        """The money-moving transaction a refund applies to: a sale, a capture, or an auth's capture."""
        if txn.type is TxType.AUTHORIZATION:
            return self.capture_of(txn)
        if txn.type in {TxType.SALE, TxType.CAPTURE} and txn.outcome.approved:
            return txn
        return None

    def refundable(self, txn: Transaction) -> Decimal:
        target = self.refund_target(txn)
        return ZERO if target is None else target.amount - self.refunded(target)

    def status(self, txn: Transaction) -> str:
        """NetValve's free-text `status`; only "Authorised" and PARTIALLY_SETTLED are documented upstream."""
        if txn.outcome.pending:
            return "Pending"
        if not txn.outcome.approved:
            return "Declined"
        if txn.type is TxType.REFUND:
            return "Refunded"
        if txn.type is TxType.CANCEL:
            return "Cancelled"
        if txn.type is TxType.AUTHORIZATION:
            capture = self.capture_of(txn)
            if capture is None:
                return "Cancelled" if self.is_cancelled(txn) else "Authorised"
            settled = "Settled" if capture.amount == txn.amount else "PARTIALLY_SETTLED"
            return self._refund_status(capture) or settled
        return self._refund_status(txn) or "Settled"

    def _refund_status(self, txn: Transaction) -> str | None:
        refunded = self.refunded(txn)
        if refunded == ZERO:
            return None
        return "Refunded" if refunded >= txn.amount else "Partially Refunded"

    def allowed_actions(self, txn: Transaction) -> list[str]:
        if not txn.outcome.approved:
            return []
        if txn.type is TxType.AUTHORIZATION and self.capture_of(txn) is None and not self.is_cancelled(txn):
            return ["CAPTURE", "CANCEL"]
        return ["REFUND"] if self.refundable(txn) > ZERO else []

    def order_state(self, order: Order) -> str:
        attempts = [
            self.transactions[txn_id]
            for txn_id in order.transaction_ids
            if self.transactions[txn_id].type in {TxType.SALE, TxType.AUTHORIZATION}
        ]
        if not attempts:
            return "CREATED"
        if any(attempt.outcome.approved for attempt in attempts):
            return "PAID"
        if attempts[-1].outcome.pending:
            return "PENDING"
        return "DECLINED"
