"""The simulated gateway: sale, authorize, capture, refund, cancel, pending settlement, HPP orders.

Callers hold `ledger.lock`. Rules that refuse an operation raise `Refused` (one status object, nothing
recorded, no webhook); bad fields raise `ValidationFailed` (HTTP 400 array). Every recorded transaction,
approved, pending or declined, fires its webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from netvalve_sandbox.cards import (
    APPROVED_OUTCOME,
    LAPSED_AUTHORIZATION,
    Card,
    Outcome,
    decide_outcome,
    forced_outcome,
)
from netvalve_sandbox.dto import webhook_body
from netvalve_sandbox.errors import FieldError, Refused, ValidationFailed
from netvalve_sandbox.faults import Knobs
from netvalve_sandbox.settings import SandboxSettings
from netvalve_sandbox.state import (
    Channel,
    GatewayToken,
    HpfSession,
    HppPage,
    Ledger,
    Order,
    Routing,
    Transaction,
    TxType,
)
from netvalve_sandbox.tokens import mit_refusal, record_cit
from netvalve_sandbox.validation import (
    CaptureRequest,
    ChargeRequest,
    CreateTokenRequest,
    HppOrderRequest,
    RefundRequest,
)
from netvalve_sandbox.webhooks import WebhookDispatcher
from netvalve_sandbox.wire import new_trace_id, now

GATEWAY_TOKEN = "GATEWAY_TOKEN"  # noqa: S105 (a token type, not a credential)
CREATE_TOKEN = "CREATE_TOKEN"  # noqa: S105 (what issued a token, not a credential)
# `/createToken` with `verify: true` checks the card with the issuer by a zero-amount authorization.
VERIFICATION_AMOUNT = Decimal("0.00")


def _token_error(detail: str) -> ValidationFailed:
    return ValidationFailed([FieldError("GTW_2034", "paymentToken", detail)])


class Gateway:
    def __init__(
        self,
        settings: SandboxSettings,
        ledger: Ledger,
        webhooks: WebhookDispatcher,
        clock: Callable[[], float] = time.monotonic,
        knobs: Callable[[], Knobs] | None = None,
    ) -> None:
        self.settings = settings
        self.knobs = knobs or settings.default_knobs
        self.ledger = ledger
        self.webhooks = webhooks
        self.clock = clock
        # How far the gateway's calendar runs ahead of the wall clock (`PUT /_sandbox/clock`), so that a test
        # can let an authorization lapse without waiting days.
        self.clock_offset = timedelta(0)
        self._timers: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        timers, self._timers = list(self._timers), set()
        for timer in timers:
            timer.cancel()
        for timer in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    def find(self, transaction_id: int) -> Transaction:
        txn = self.ledger.transactions.get(transaction_id)
        if txn is None:
            raise Refused("GTW_2103", status_code=404)
        return txn

    def find_order(
        self,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
        transaction_id: int | None = None,
    ) -> Order:
        ledger = self.ledger
        if order_id is None and client_order_id is not None:
            order_id = ledger.orders_by_client_order_id.get(client_order_id)
        if order_id is None and transaction_id is not None and transaction_id in ledger.transactions:
            order_id = ledger.transactions[transaction_id].order_id
        order = ledger.orders.get(order_id) if order_id is not None else None
        if order is None:
            raise Refused("GTW_2103", status_code=404)
        return order

    def issue_hpf_session(self, jwt: str) -> HpfSession:
        session = HpfSession(token=str(uuid.uuid4()), jwt=jwt, issued_at=self.clock())
        self.ledger.hpf_sessions[session.token] = session
        return session

    def hpf_session_expired(self, session: HpfSession) -> bool:
        return self.clock() - session.issued_at > self.settings.hpf_token_ttl_seconds

    def charge(
        self,
        request: ChargeRequest,
        tx_type: TxType,
        *,
        decline: str | None,
        channel: Channel = Channel.API,
        order: Order | None = None,
    ) -> Transaction:
        """A sale or authorization; the outcome comes from the forced decline, magic amount or test card."""
        self.settle_due()
        session: HpfSession | None = None
        token_type: str | None = None
        card = request.card
        if request.payment_token is not None:
            session, card, token_type = self._resolve_token(request.payment_token)
            if request.payment_type == "TOKEN" and token_type != GATEWAY_TOKEN:
                raise _token_error("Payment Token Invalid.")
            if session is not None and channel is Channel.API:
                channel = Channel.HPF
        assert card is not None
        paid_with = self.ledger.gateway_tokens.get(request.payment_token or "")
        if order is None:
            self._reject_duplicate(request.client_order_id)
            order = self._new_order(
                request.client_order_id, request.amount, request.currency, request.routing
            )
            order.description = request.description
        refused = mit_refusal(self.ledger, paid_with, request.stored_credential)
        if decline:
            outcome = forced_outcome(decline)
        else:
            outcome = refused or decide_outcome(card, request.amount, now())
        txn = self._record(
            order,
            tx_type,
            request.amount,
            outcome,
            card=card,
            channel=channel,
            payment_type=request.payment_type,
            payment_token=request.payment_token,
            payment_token_type=token_type,
        )
        txn.three_ds = request.three_ds
        txn.additional_data = request.additional_data
        declined = outcome.code_type.endswith("DECLINE")
        if session is not None:
            session.used = True
            if not declined:
                session.paid_by, session.initial_cit = txn.id, request.stored_credential.initial
        if token_type != GATEWAY_TOKEN and not declined:
            if self.knobs().sales_without_tokens:
                txn.payment_token = txn.payment_token_type = None
            else:
                # NetValve's "token creation as part of auth/sale": every card payment, no flag needed.
                paid_with = self._issue_token(card, tx_type.value, txn.id)
                txn.payment_token, txn.payment_token_type = paid_with.token, GATEWAY_TOKEN
        record_cit(paid_with, request.stored_credential, txn)
        if outcome.pending:
            txn.settles_at = self.clock() + self.settings.pending_settle_seconds
            self._schedule_settle(self.settings.pending_settle_seconds)
        self._notify(txn)
        return txn

    def create_token(
        self, request: CreateTokenRequest, *, decline: str | None
    ) -> tuple[Transaction | None, GatewayToken | None]:
        """`/createToken`: with `verify` a $0 authorization first (no token when it is declined). The
        verification is recorded but not announced: NetValve documents webhooks for payments only. An HPF
        token whose card an approved payment used still tokenizes that card while the session lives; the
        token is then linked to that payment when it was the initial customer-initiated one."""
        self.settle_due()
        card = request.card
        initial_cit: int | None = None
        if request.payment_token is not None:
            session, card, token_type = self._resolve_token(request.payment_token, after_payment=True)
            if token_type == GATEWAY_TOKEN:
                raise _token_error("Payment Token Is Already A Gateway Token.")
            if session is not None:
                session.used = True
                initial_cit = session.paid_by if session.initial_cit else None
        assert card is not None
        if not request.verify:
            return None, self._issue_token(card, CREATE_TOKEN, None, initial_cit)
        order = self._new_order(None, VERIFICATION_AMOUNT, request.currency, request.routing)
        outcome = forced_outcome(decline) if decline else decide_outcome(card, VERIFICATION_AMOUNT, now())
        txn = self._record(
            order,
            TxType.AUTHORIZATION,
            VERIFICATION_AMOUNT,
            outcome,
            card=card,
            channel=Channel.TOKEN_SAVING,
            payment_type="CARD",
        )
        if not outcome.approved:
            return txn, None
        issued = self._issue_token(card, CREATE_TOKEN, txn.id, initial_cit)
        txn.payment_token, txn.payment_token_type = issued.token, GATEWAY_TOKEN
        return txn, issued

    def _issue_token(
        self, card: Card, issued_by: str, transaction_id: int | None, initial_cit: int | None = None
    ) -> GatewayToken:
        issued = GatewayToken(str(uuid.uuid4()), card, issued_by, transaction_id, now())
        if initial_cit is not None:
            issued.cit_transaction_ids.append(initial_cit)
        self.ledger.gateway_tokens[issued.token] = issued
        return issued

    def capture(self, request: CaptureRequest, *, decline: str | None) -> Transaction:
        self.settle_due()
        auth = self.find(request.transaction_id)
        self._require_settled_approved(auth)
        if auth.type is TxType.SALE:
            raise Refused("GTW_2046")
        if auth.type is not TxType.AUTHORIZATION:
            raise Refused("GTW_2013")
        if self.ledger.capture_of(auth) is not None:
            raise Refused("GTW_2046")
        if self.ledger.is_cancelled(auth):
            raise Refused("GTW_2047")
        if request.amount > auth.amount:
            raise Refused("GTW_2124")
        partial = request.amount < auth.amount
        if partial and not request.final_capture:
            detail = "Partial capture requires captureOptions.finalCapture = true."
            raise ValidationFailed([FieldError("GTW_2038", "amount", detail)])
        outcome = LAPSED_AUTHORIZATION if self.lapsed(auth) else self._outcome(decline)
        capture = self._record_child(auth, TxType.CAPTURE, request.amount, outcome)
        if partial and capture.outcome.approved:
            # NetValve records the released remainder as a CANCEL; no webhook is documented for it.
            self._record_child(auth, TxType.CANCEL, auth.amount - request.amount, APPROVED_OUTCOME)
        self._notify(capture)
        return capture

    def today(self) -> datetime:
        return now() + self.clock_offset

    def lapsed(self, auth: Transaction) -> bool:
        """Whether the issuer has released the authorization by the gateway's calendar."""
        return self.today() - auth.created_at > timedelta(days=self.settings.authorization_lifetime_days)

    def refund(self, request: RefundRequest, *, decline: str | None) -> Transaction:
        self.settle_due()
        txn = self.find(request.transaction_id)
        self._require_settled_approved(txn)
        if txn.type in {TxType.REFUND, TxType.CANCEL}:
            raise Refused("GTW_2013")
        target = self.ledger.refund_target(txn)
        if target is None:
            raise Refused("GTW_2047" if self.ledger.is_cancelled(txn) else "GTW_2013")
        remaining = self.ledger.refundable(target)
        if remaining <= 0:
            raise Refused("GTW_2045")
        amount = remaining if request.amount is None else request.amount
        if amount > remaining:
            raise Refused("GTW_2108")
        refund = self._record_child(target, TxType.REFUND, amount, self._outcome(decline))
        self._notify(refund)
        return refund

    def cancel(self, transaction_id: int, *, decline: str | None) -> Transaction:
        self.settle_due()
        auth = self.find(transaction_id)
        self._require_settled_approved(auth)
        if auth.type in {TxType.SALE, TxType.CAPTURE}:
            raise Refused("GTW_2046")
        if auth.type is not TxType.AUTHORIZATION:
            raise Refused("GTW_2013")
        if self.ledger.capture_of(auth) is not None:
            raise Refused("GTW_2046")
        if self.ledger.is_cancelled(auth):
            raise Refused("GTW_2047")
        cancel = self._record_child(auth, TxType.CANCEL, auth.amount, self._outcome(decline))
        self._notify(cancel)
        return cancel

    def create_hpp_order(self, request: HppOrderRequest) -> Order:
        self._reject_duplicate(request.client_order_id)
        order = self._new_order(request.client_order_id, request.amount, request.currency, request.routing)
        order.description = request.description
        token = secrets.token_urlsafe(32)
        order.hpp = HppPage(
            mode=request.mode,
            token=token,
            success_url=request.success_url,
            cancel_url=request.cancel_url,
            failed_url=request.failed_url,
            pending_url=request.pending_url,
            customer=request.customer,
        )
        self.ledger.orders_by_hpp_token[token] = order.id
        return order

    def hpp_order(self, token: str) -> Order | None:
        order_id = self.ledger.orders_by_hpp_token.get(token)
        return None if order_id is None else self.ledger.orders[order_id]

    def pay_hpp_order(self, order: Order, card: Card) -> Transaction:
        assert order.hpp is not None
        if self.ledger.order_state(order) in {"PAID", "PENDING"}:
            raise Refused("GTW_2070")
        request = ChargeRequest(
            amount=order.amount,
            currency=order.currency,
            payment_type="CARD",
            client_order_id=order.client_order_id,
            routing=order.routing,
            card=card,
            payment_token=None,
            description=order.description,
            customer=order.hpp.customer,
        )
        return self.charge(request, order.hpp.mode, decline=None, channel=Channel.HPP, order=order)

    def settle_due(self) -> None:
        """Turn pending transactions whose time has come into approvals and announce them."""
        moment = self.clock()
        for txn in self.ledger.transactions.values():
            if txn.settles_at is not None and txn.settles_at <= moment:
                txn.settles_at = None
                txn.outcome = APPROVED_OUTCOME
                txn.auth_code = self._auth_code(txn.id)
                txn.bank_transaction_id = self._bank_transaction_id(txn.id)
                txn.updated_at = now()
                self._notify(txn)

    def _schedule_settle(self, delay: float) -> None:
        timer = asyncio.get_running_loop().create_task(self._settle_later(delay))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _settle_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self.ledger.lock:
            self.settle_due()

    def resolve_token(self, token: str) -> Card:
        """The card behind an HPF or gateway token, as `/sale` would find it; the token stays usable."""
        return self._resolve_token(token)[1]

    def _resolve_token(
        self, token: str, *, after_payment: bool = False
    ) -> tuple[HpfSession | None, Card, str]:
        """The session (for an HPF token), card and token type; with ``after_payment`` a used HPF token
        whose approved payment used its card still resolves (`/createToken` after the sale)."""
        session = self.ledger.hpf_sessions.get(token)
        if session is not None:
            if self.hpf_session_expired(session):
                raise _token_error("Payment Token Expired.")
            if session.card is None:
                raise _token_error("Payment Token Not Tokenized, card fields were never submitted.")
            if session.used and not (after_payment and self._paid(session)):
                raise _token_error("Payment Token Already Used.")
            return session, session.card, "HPF"
        issued = self.ledger.gateway_tokens.get(token)
        if issued is None:
            raise _token_error("Payment Token Invalid.")
        return None, issued.card, GATEWAY_TOKEN

    def _paid(self, session: HpfSession) -> bool:
        paid_by = None if session.paid_by is None else self.ledger.transactions.get(session.paid_by)
        return paid_by is not None and paid_by.outcome.approved

    def _reject_duplicate(self, client_order_id: str | None) -> None:
        if client_order_id is not None and client_order_id in self.ledger.orders_by_client_order_id:
            raise ValidationFailed([FieldError("GTW_2065", "clientOrderId")])

    def _require_settled_approved(self, txn: Transaction) -> None:
        if txn.outcome.pending:
            raise Refused("GTW_2049")
        if not txn.outcome.approved:
            raise Refused("GTW_2013")

    @staticmethod
    def _outcome(decline: str | None) -> Outcome:
        return forced_outcome(decline) if decline else APPROVED_OUTCOME

    @staticmethod
    def _auth_code(transaction_id: int) -> str:
        return f"SB{transaction_id % 10000:04d}"

    @staticmethod
    def _bank_transaction_id(transaction_id: int) -> str:
        return str(432604500000 + transaction_id)

    def _new_order(
        self, client_order_id: str | None, amount: Decimal, currency: str, routing: Routing
    ) -> Order:
        order = Order(
            id=self.ledger.next_order_id(),
            client_order_id=client_order_id,
            amount=amount,
            currency=currency,
            routing=routing,
            created_at=now(),
        )
        self.ledger.orders[order.id] = order
        if client_order_id is not None:
            self.ledger.orders_by_client_order_id[client_order_id] = order.id
        return order

    def _record(
        self,
        order: Order,
        tx_type: TxType,
        amount: Decimal,
        outcome: Outcome,
        *,
        card: Card | None,
        channel: Channel,
        payment_type: str,
        payment_token: str | None = None,
        payment_token_type: str | None = None,
        parent: Transaction | None = None,
    ) -> Transaction:
        transaction_id = self.ledger.next_transaction_id()
        reached_bank = outcome.approved or outcome.code.startswith("BNK_")
        txn = Transaction(
            id=transaction_id,
            order_id=order.id,
            type=tx_type,
            amount=amount,
            currency=order.currency,
            client_order_id=order.client_order_id,
            outcome=outcome,
            card=card,
            routing=order.routing,
            channel=channel,
            payment_type=payment_type,
            trace_id=new_trace_id(),
            created_at=now(),
            parent_id=parent.id if parent else None,
            payment_token=payment_token,
            payment_token_type=payment_token_type,
            auth_code=self._auth_code(transaction_id) if outcome.approved else None,
            bank_transaction_id=self._bank_transaction_id(transaction_id) if reached_bank else None,
        )
        self.ledger.transactions[txn.id] = txn
        order.transaction_ids.append(txn.id)
        order.updated_at = txn.created_at
        if parent is not None:
            parent.children.append(txn.id)
        return txn

    def _record_child(
        self, parent: Transaction, tx_type: TxType, amount: Decimal, outcome: Outcome
    ) -> Transaction:
        return self._record(
            self.ledger.orders[parent.order_id],
            tx_type,
            amount,
            outcome,
            card=parent.card,
            channel=parent.channel,
            payment_type=parent.payment_type,
            payment_token_type=parent.payment_token_type,
            parent=parent,
        )

    def _notify(self, txn: Transaction) -> None:
        self.webhooks.emit(webhook_body(txn, self.settings, now()))
