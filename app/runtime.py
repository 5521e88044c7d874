"""The services wired to what the application's lifespan opened, and the background work each replica
runs: reconciliation, authorizations near expiry, webhook processing and forwarding to Medusa (all claimed
with SKIP LOCKED, so any number of replicas share them safely), and adding the rate-limit hits it held back
to the shared count. The one module that knows both the app's state and the services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI
from starlette.datastructures import State

from app.repositories.medusa import MedusaReader
from app.services.netvalve_service import NetValveService
from app.services.outbox import OutboxDelivery
from app.services.retention import purge_due_rows
from app.services.webhook_service import WebhookProcessor

logger = logging.getLogger(__name__)


def netvalve_service(state: State) -> NetValveService:
    """The service graph, built once for what the lifespan opened (it holds no request's state) and built
    again only when one of those parts is replaced."""
    parts = (state.settings, state.sessionmaker, state.autocommit, state.medusa_pool, state.gateway)
    wired: tuple[tuple[object, ...], NetValveService] | None = getattr(state, "netvalve_service", None)
    if wired is not None and all(a is b for a, b in zip(wired[0], parts, strict=True)):
        return wired[1]
    medusa = MedusaReader(state.medusa_pool, state.settings.medusa_pool_acquire_timeout_seconds)
    service = NetValveService(state.settings, state.sessionmaker, state.autocommit, medusa, state.gateway)
    state.netvalve_service = (parts, service)
    return service


async def process_due_webhooks(state: State, limit: int = 20) -> int:
    """One worker pass over due events (the background job and the tests call this)."""
    processor = WebhookProcessor(state.settings, state.sessionmaker, netvalve_service(state).reconciliation)
    return await processor.process_due(limit)


async def deliver_due_outbox(state: State, limit: int = 20) -> int:
    """One delivery pass (the background job and the tests call this)."""
    return await OutboxDelivery(state.settings, state.sessionmaker, state.http).deliver_due(limit)


async def check_authorizations(state: State, limit: int = 100) -> int:
    """One pass over authorizations near expiry (the background job and the tests call this)."""
    return await netvalve_service(state).authorizations.check(limit)


async def _once(name: str, job: Callable[[], Awaitable[object]]) -> None:
    try:
        await job()
    except Exception:
        logger.exception("background job failed", extra={"job": name})


async def _every(seconds: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
    while True:
        await _once(name, job)
        await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def run_background_workers(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    settings = state.settings
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(
            _every(settings.storefront_rate_limit_flush_seconds, "rate_limit_flush", state.rate_limiter.flush)
        )
    ]

    async def reconcile() -> None:
        await netvalve_service(state).reconciliation.reconcile(limit=100)

    if settings.reconcile_interval_seconds > 0:
        tasks.append(asyncio.create_task(_every(settings.reconcile_interval_seconds, "reconcile", reconcile)))

    if settings.authorization_check_interval_seconds > 0:
        tasks.append(
            asyncio.create_task(
                _every(
                    settings.authorization_check_interval_seconds,
                    "authorizations",
                    lambda: check_authorizations(state),
                )
            )
        )

    async def webhooks() -> None:
        while await process_due_webhooks(state, limit=20):
            pass

    async def outbox() -> None:
        while await deliver_due_outbox(state, limit=20):
            pass

    if settings.retention_interval_seconds > 0:
        tasks.append(
            asyncio.create_task(
                _every(
                    settings.retention_interval_seconds,
                    "retention",
                    lambda: purge_due_rows(state.sessionmaker, settings),
                )
            )
        )

    if settings.webhook_worker_enabled:
        poll = settings.webhook_worker_poll_seconds
        tasks.append(asyncio.create_task(_every(poll, "webhooks", webhooks)))
        if settings.medusa_webhook_url:
            tasks.append(asyncio.create_task(_every(poll, "webhook_outbox", outbox)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The hits this replica still holds count for the others.
        await _once("rate_limit_flush", state.rate_limiter.flush)
