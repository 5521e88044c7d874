"""The NetValve routes' business logic, one module per responsibility, wired together here:
``checkout`` (the HPF waterfall), ``payments`` (pay, through ``charge`` and, when configured, ``threeds``),
``money_operations`` (capture, refund, cancel) and
``reconciliation`` (status, look-ups, reconcile), all moving money through the one protocol in ``ledger``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings, ThreeDSMode
from app.gateway import NetValveClient
from app.repositories.medusa import MedusaReader
from app.services.authorizations import AuthorizationExpiry
from app.services.carts import Carts
from app.services.charge import Charge
from app.services.checkout import Checkout
from app.services.context import ServiceContext
from app.services.ledger import Ledger
from app.services.money_operations import MoneyOperations
from app.services.payments import Payments
from app.services.reconciliation import Reconciliation
from app.services.saved_card_charges import SavedCardCharges
from app.services.threeds import ThreeDS
from app.services.vault import Vault


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
        charge = Charge(ctx)
        self.checkout = Checkout(ctx)
        self.threeds = ThreeDS(ctx, charge)
        authentication = self.threeds if settings.netvalve_threeds is ThreeDSMode.ON else None
        self.payments = Payments(ctx, charge, authentication, SavedCardCharges(ctx, charge))
        self.money = MoneyOperations(ctx)
        self.authorizations = AuthorizationExpiry(ctx, self.money)
        self.reconciliation = Reconciliation(ctx)
        self.vault = Vault(ctx)
        self.saved_card_charges = SavedCardCharges(ctx, charge)
