"""Authorizations that lapse: issuers release a hold after 5 to 30 days (netvalve-api.md §5.4), so one that
waits for its capture too long is noticed, and, when the shop opted in, captured or voided before it goes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from app.core.config import NearExpiryAction
from app.core.errors import AppError
from app.models import Payment
from app.repositories.authorizations import AuthorizationRepository
from app.services.context import ServiceContext
from app.services.money_operations import MoneyOperations

logger = logging.getLogger(__name__)

NEAR_EXPIRY = Counter(
    "netvalve_authorizations_near_expiry_total",
    "Authorizations noticed near expiry (AUTHORIZATION_NEAR_EXPIRY_DAYS), by the action configured for them.",
    ["action"],
)


def near_expiry_cutoff(days: float, now: datetime | None = None) -> datetime:
    """Authorizations made at or before this moment count as near expiry."""
    return (now or datetime.now(UTC)) - timedelta(days=days)


class AuthorizationExpiry:
    def __init__(self, ctx: ServiceContext, money: MoneyOperations) -> None:
        self.settings = ctx.settings
        self.sessionmaker = ctx.sessionmaker
        self.reads = ctx.reads
        self.money = money

    async def check(self, limit: int = 100) -> int:
        """One pass: notice authorizations that came near expiry (each once, over every replica), then act
        on those still held if the shop opted in. Returns how many were noticed."""
        action = self.settings.authorization_near_expiry_action
        cutoff = near_expiry_cutoff(self.settings.authorization_near_expiry_days)
        async with self.sessionmaker.begin() as db:
            noticed = list(await AuthorizationRepository(db).claim_near_expiry(cutoff, limit))
        for payment in noticed:
            NEAR_EXPIRY.labels(action.value).inc()
            logger.warning(
                "authorization near expiry",
                extra={
                    "payment_id": payment.id,
                    "payment_session_id": payment.payment_session_id,
                    "authorized_at": payment.authorized_at.isoformat() if payment.authorized_at else None,
                    "action": action.value,
                },
            )
        if action is not NearExpiryAction.NONE:
            async with self.reads() as db:
                due = list(await AuthorizationRepository(db).near_expiry_due(limit))
            for payment in due:
                await self._act(payment, action)
        return len(noticed)

    async def _act(self, payment: Payment, action: NearExpiryAction) -> None:
        """Capture or void through the call protocol. The key binds the pass's request to its call, so a
        later pass answers from that call instead of sending again; the state table refuses what is done."""
        key = f"authorization-expiry:{action.value}:{payment.id}"
        session_id = payment.payment_session_id
        transaction_id = None if session_id else payment.netvalve_transaction_id
        try:
            if action is NearExpiryAction.CAPTURE:
                answer = await self.money.capture(transaction_id, session_id, None, key)
            else:
                answer = await self.money.cancel(transaction_id, session_id, key)
        except AppError as exc:
            logger.warning(
                "authorization near expiry: %s refused",
                action.value,
                extra={"payment_id": payment.id, "error_code": exc.code},
            )
            return
        logger.info(
            "authorization near expiry: %s sent",
            action.value,
            extra={"payment_id": payment.id, "status": answer.body.status.value, "open": answer.is_open},
        )
