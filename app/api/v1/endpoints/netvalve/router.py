"""Aggregates every NetValve sub-router under ``/api/v1/netvalve``."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.v1.endpoints.netvalve import (
    cancel,
    capture,
    dispute,
    hpf,
    payment,
    reconcile,
    refund,
    saved_cards,
    status,
    threeds,
    webhook,
)

PREFIX = "/api/v1/netvalve"
WEBHOOK_PATH = PREFIX + "/webhook"

ROUTERS = tuple(
    module.router
    for module in (
        hpf,
        payment,
        threeds,
        capture,
        refund,
        cancel,
        dispute,
        status,
        reconcile,
        saved_cards,
        webhook,
    )
)

router = APIRouter(prefix=PREFIX, tags=["netvalve"])
for included in ROUTERS:
    router.include_router(included)
