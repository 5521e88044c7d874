"""Refunds the ledger holds and Medusa has not recorded: made in NetValve's back office and learned by a
look-up or a webhook, or made for a Medusa refund whose row Medusa deleted when our answer did not reach it.
Medusa's refund of such an amount records that refund instead of returning the money a second time (what
Medusa's Stripe provider does with ``charge_already_refunded``).

Medusa inserts its refund row before it asks the provider, with the row's id as the idempotency key, so a
request is Medusa's refund only if its key names a refund row of the payment Medusa made from this session.
Every other refund row Medusa holds accounts for one ledger refund: first the one its key made, then one of
its amount. A ledger refund left over, of exactly the amount asked, is the one recorded, and the request's
key is bound to it under the payment's row lock, so that it is recorded once: two Medusa refunds of the same
amount are never merged into one. Anything the rows and the ledger cannot account for makes a real refund
(capped as always), never an answer "done" without money returned."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.money import round_to_minor
from app.models import GatewayTransaction, Payment
from app.repositories.medusa import MedusaReader
from app.repositories.medusa_rows import MedusaRefund
from app.repositories.refunds import RefundRepository

logger = logging.getLogger(__name__)


class RecordedRefunds:
    def __init__(self, medusa: MedusaReader) -> None:
        self.medusa = medusa

    async def record(
        self, db: AsyncSession, payment: Payment, amount: Decimal | None, key: str | None
    ) -> GatewayTransaction | None:
        """The ledger refund that Medusa's refund (named by ``key``) of ``amount`` records, now bound to
        ``key``; None when a real refund is to be made. ``payment`` is under its row lock."""
        if key is None or amount is None or payment.payment_session_id is None:
            return None
        held = await RefundRepository(db).approved(payment.id)
        if not any(_same_amount(amount, call, payment.currency) for call in held):
            return None  # the usual refund: Medusa's database is not asked
        rows = await self.medusa.get_session_refunds(payment.payment_session_id)
        call = unrecorded(key, amount, rows, held, payment.currency)
        if call is None:
            return None
        call.idempotency_key = key
        logger.info(
            "a refund made outside Medusa is recorded by Medusa's refund",
            extra={
                "payment_id": payment.id,
                "netvalve_transaction_id": call.netvalve_transaction_id,
                "amount_minor": call.amount_minor,
            },
        )
        return call


def unrecorded(
    key: str,
    amount: Decimal,
    rows: Sequence[MedusaRefund],
    held: Sequence[GatewayTransaction],
    currency: str,
) -> GatewayTransaction | None:
    """The oldest ledger refund (``held``, approved, oldest first) of ``amount`` that none of Medusa's other
    refund ``rows`` accounts for, when ``key`` names Medusa's own row of that amount."""
    own = next((row for row in rows if _names(key, row.id)), None)
    if own is None or own.amount != amount:
        return None
    others = [row for row in rows if row is not own]
    left = list(held)
    by_amount = []
    for row in others:
        made = next((call for call in left if _names(call.idempotency_key, row.id)), None)
        if made is None:
            by_amount.append(row)
        else:
            left.remove(made)
    for row in by_amount:
        same = next((call for call in left if _same_amount(row.amount, call, currency)), None)
        if same is None:
            return None  # Medusa holds a refund the ledger cannot tell apart: assume nothing
        left.remove(same)
    return next((call for call in left if _same_amount(amount, call, currency)), None)


def _names(key: str | None, refund_id: str) -> bool:
    """Whether an idempotency key (``<scope>:<key>``) is Medusa's refund ``refund_id``."""
    return key is not None and key.endswith(f":{refund_id}")


def _same_amount(amount: Decimal, call: GatewayTransaction, currency: str) -> bool:
    """Whether a refund of Medusa's exact ``amount`` is the ledger's ``call``: Medusa's exact amount when the
    call was asked for one, else what NetValve refunded."""
    if call.medusa_amount is not None:
        return call.medusa_amount == amount
    return round_to_minor(amount, currency) == call.amount_minor
