"""Which NetValve merchant account a call goes to: the currency's MID when one is configured, else the
smart-routing site."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.core.config import Settings


class MerchantNotConfigured(LookupError):
    """Neither a per-currency MID nor a site id is configured for ``currency``."""

    def __init__(self, currency: str) -> None:
        self.currency = currency.strip().upper()
        super().__init__(
            f"no NetValve merchant account for {self.currency}: "
            f"set NETVALVE_MID_ID_{self.currency} or NETVALVE_SITE_ID"
        )


class RoutingKind(StrEnum):
    NETVALVE_MID = "netvalve_mid"  # a UUID-like MID
    MID = "mid"  # an all-digit MID
    SITE = "site"  # NetValve's smart routing across the site's MIDs


@dataclass(frozen=True)
class Routing:
    kind: RoutingKind
    value: str

    def model_fields(self) -> dict[str, str | int]:
        """Exactly one routing field of a request model: never a MID next to ``siteId``, which would
        silently turn smart routing off."""
        if self.kind is RoutingKind.MID:
            return {"mid_id": int(self.value)}
        if self.kind is RoutingKind.NETVALVE_MID:
            return {"netvalve_mid_id": self.value}
        return {"site_id": self.value}


def routing_for(settings: Settings, currency: str) -> Routing:
    """The currency's MID if configured (an all-digit one goes out as the int ``midId``, any other as
    ``netvalveMidId``), else the site."""
    mid = (settings.mid_for(currency) or "").strip()
    if mid:
        return Routing(RoutingKind.MID if mid.isdigit() else RoutingKind.NETVALVE_MID, mid)
    if settings.netvalve_site_id:
        return Routing(RoutingKind.SITE, settings.netvalve_site_id)
    raise MerchantNotConfigured(currency)
