"""Pay for a cart (or a payment collection without one): NetValve ``/sale`` (or ``/authorize`` in
manual-capture mode), for Medusa's amount, never twice. The intent is committed before the call
(``Ledger``), the answer recorded after it."""

from __future__ import annotations

import re
from typing import Any, Protocol

from pydantic import ValidationError

from app.core.config import CaptureMode
from app.core.security import Caller
from app.gateway import Refusal, SaleRequest
from app.models import CallOutcome, Operation, Payment, PaymentStatus
from app.repositories.medusa import MedusaCollection
from app.repositories.payments import OPEN_CALL_OUTCOMES, PaymentRepository
from app.schemas.netvalve import BrowserInfo, PayResponse
from app.services import errors
from app.services.attempts import open_attempt, release_unpaid_hosted
from app.services.carts import (
    Due,
    Payable,
    already_paid,
    is_paid_in_medusa,
    order_description,
    paid_in_medusa,
    payer_of,
)
from app.services.checkout import token_digest
from app.services.context import ServiceContext
from app.services.views import Answer, is_open, paid_answer

ORDER_DESC_MAX = 100
PHONE_MAX = 20
_PHONE_NOISE = re.compile(r"[\s().-]")
# A call made under a key that still stands for its request: a retry answers from it and never sends again.
_KEY_BINDS = frozenset({*OPEN_CALL_OUTCOMES, CallOutcome.APPROVED})


class Authentication(Protocol):
    async def start(
        self,
        due: Due,
        fields: dict[str, Any],
        browser: BrowserInfo | None,
        return_url: str | None,
        idempotency_key: str | None,
    ) -> Answer[PayResponse]: ...


class Payments:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.reads = ctx.reads
        self.carts = ctx.carts
        self.ledger = ctx.ledger
        self.gateway = ctx.gateway
        # 3-D Secure before the sale (``NETVALVE_THREEDS=on``), wired by ``NetValveService``.
        self.authentication: Authentication | None = None

    async def pay(
        self,
        cart_id: str | None,
        payment_session_id: str | None,
        payment_token: str | None,
        customer_ip: str | None,
        idempotency_key: str | None = None,
        caller: Caller | None = None,
        browser: BrowserInfo | None = None,
        threeds_return_url: str | None = None,
        *,
        payment_collection_id: str | None = None,
    ) -> Answer[PayResponse]:
        """Charge (or authorize) a cart, or a payment collection without one, for the amount Medusa holds;
        never twice."""
        cart = await self.carts.get_payable(cart_id, payment_collection_id, payment_session_id, caller)
        payer = payer_of(cart)
        async with self.reads() as db:
            repo = PaymentRepository(db)
            made = await repo.call_for_key(idempotency_key) if idempotency_key else None
            if made is not None and made.outcome in _KEY_BINDS:
                bound = await db.get(Payment, made.payment_id)
                assert bound is not None
                return paid_answer(bound)
            existing = await repo.find_live_for(payer)
        if existing is not None and not await release_unpaid_hosted(self.ctx, existing):
            self.carts.check_unchanged(existing, cart)
            if isinstance(cart, MedusaCollection) and existing.authorized_minor > 0 and not is_open(existing):
                # A cart's paid answer lets its checkout complete; a collection has no checkout to complete.
                raise already_paid(cart)
            return paid_answer(existing)
        if is_paid_in_medusa(cart):
            raise paid_in_medusa(cart)
        due = self.carts.due(cart)
        if payment_token is None:
            waiting = PayResponse(
                cart_id=payer.cart_id,
                payment_collection_id=payer.payment_collection_id,
                payment_session_id=due.session_id,
                status=PaymentStatus.REQUIRES_MORE,
                currency_code=due.currency,
                amount=due.amount,
            )
            return Answer(waiting, is_open=False)
        async with self.reads() as db:
            token_payer = await PaymentRepository(db).token_payer(token_digest(payment_token))
        if token_payer is not None and token_payer != payer:
            raise errors.PaymentTokenCartMismatch()
        # Everything NetValve will be sent is checked before anything is recorded.
        fields = _sale_fields(due, payment_token, customer_ip)
        _sale_request(fields, reference="x" * 100)
        if self.authentication is not None:
            return await self.authentication.start(due, fields, browser, threeds_return_url, idempotency_key)
        return await self.charge(due, fields, idempotency_key)

    @property
    def operation(self) -> Operation:
        return (
            Operation.AUTHORIZE
            if self.settings.netvalve_capture_mode is CaptureMode.AUTHORIZE
            else Operation.SALE
        )

    async def charge(
        self, due: Due, fields: dict[str, Any], idempotency_key: str | None
    ) -> Answer[PayResponse]:
        """Send the sale (or authorization) through the ledger's call protocol: recorded, sent, settled."""
        operation = self.operation
        opened = await open_attempt(
            self.ctx, due, operation, idempotency_key, authenticated="three_ds" in fields
        )
        if isinstance(opened, Payment):
            return paid_answer(opened)
        ref, reference = opened
        send = self.gateway.authorize if operation is Operation.AUTHORIZE else self.gateway.sale
        result = await send(_sale_request(fields, reference=reference))

        async with self.ledger.locked(ref.payment_id) as locked:
            applied = locked.answer(await locked.call(ref.call_id), result)
            answer = paid_answer(locked.payment)
        if not applied:
            return answer  # a look-up settled the call while we waited: what it recorded stands
        if result.declined:
            raise errors.CardDeclined()
        if result.refusal is Refusal.INVALID_TOKEN:
            # The token is the one field of the request the storefront supplies: its fault, not ours.
            raise errors.InvalidPaymentToken(details={"response_code": result.code})
        if not answer.is_open:
            errors.raise_if_nothing_happened(result)
        return answer


def _sale_request(fields: dict[str, Any], *, reference: str) -> SaleRequest:
    try:
        return SaleRequest(**fields, client_order_id=reference)
    except ValidationError as exc:
        raise errors.InvalidPaymentRequest.naming(exc) from None


def _sale_fields(due: Due, payment_token: str, customer_ip: str | None) -> dict[str, Any]:
    return {
        "amount": due.amount,
        "currency": due.currency,
        "payment_type": "CARD",
        "payment_token": payment_token,
        "order_desc": order_description(due.cart)[:ORDER_DESC_MAX],
        "customer_ip": customer_ip,
        **due.routing,
        **_customer_fields(due.cart),
    }


def _phone(value: str | None) -> str | None:
    """NetValve takes at most 20 characters: separators go, a number still too long is left out."""
    if not value:
        return None
    compact = _PHONE_NOISE.sub("", value)
    return compact if len(compact) <= PHONE_MAX else None


def _customer_fields(cart: Payable) -> dict[str, Any]:
    address = cart.billing_address or cart.shipping_address
    first = (address.first_name if address else None) or cart.customer_first_name
    last = (address.last_name if address else None) or cart.customer_last_name
    fields: dict[str, Any] = {
        "customer_email": cart.email,
        "customer_first_name": first,
        "customer_last_name": last,
        "customer_name": " ".join(part for part in (first, last) if part) or None,
    }
    if address is not None:
        fields |= {
            "customer_address": " ".join(p for p in (address.address_1, address.address_2) if p) or None,
            "customer_city": address.city,
            "customer_state": (address.province or None) and address.province[:30],
            "customer_zip_code": (address.postal_code or None) and address.postal_code[:10],
            "customer_country_code": address.country_code,
            "customer_phone": _phone(address.phone or cart.customer_phone),
        }
    elif cart.customer_phone:
        fields["customer_phone"] = _phone(cart.customer_phone)
    return {k: v for k, v in fields.items() if v}
