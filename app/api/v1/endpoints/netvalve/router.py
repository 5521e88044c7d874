"""Aggregates every NetValve sub-router under ``/api/v1/netvalve``."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.v1.endpoints.netvalve import (
    cancel,
    capture,
    hpf,
    payment,
    reconcile,
    refund,
    status,
    webhook,
)

router = APIRouter(prefix="/api/v1/netvalve", tags=["netvalve"])
for module in (hpf, payment, capture, refund, cancel, status, reconcile, webhook):
    router.include_router(module.router)
