"""The NetValve routes' business logic, one module per responsibility, wired together here:
``checkout`` (the HPF waterfall), ``payments`` (pay), ``money_operations`` (capture, refund, cancel) and
``reconciliation`` (status, look-ups, reconcile), all moving money through the one protocol in ``ledger``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings, ThreeDSMode
from app.gateway import NetValveClient
from app.repositories.medusa import MedusaReader
from app.services.authorizations import AuthorizationExpiry
from app.services.carts import Carts
from app.services.checkout import Checkout
from app.services.context import ServiceContext
from app.services.ledger import Ledger
from app.services.money_operations import MoneyOperations
from app.services.payments import Payments
from app.services.reconciliation import Reconciliation
from app.services.threeds import ThreeDS


class NetValveService:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        reads: async_sessionmaker[AsyncSession],
        medusa: MedusaReader,
        gateway: NetValveClient,
    ) -> None:
        ctx = ServiceContext(
            settings, reads, Carts(settings, medusa), Ledger(settings, sessionmaker), gateway
        )
        self.checkout = Checkout(ctx)
        self.payments = Payments(ctx)
        self.threeds = ThreeDS(ctx, self.payments)
        if settings.netvalve_threeds is ThreeDSMode.ON:
            self.payments.authentication = self.threeds
        self.money = MoneyOperations(ctx)
        self.authorizations = AuthorizationExpiry(ctx, self.money)
        self.reconciliation = Reconciliation(ctx)
