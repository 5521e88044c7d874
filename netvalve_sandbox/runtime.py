"""One running sandbox: settings, ledger, gateway, webhook dispatcher, fault knobs and auth."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import Request
from starlette.responses import Response

from netvalve_sandbox.auth import ApiAuth, BackofficeAuth
from netvalve_sandbox.dto import transaction_response
from netvalve_sandbox.faults import FAULT_HEADER, FaultController, Knobs
from netvalve_sandbox.gateway import Gateway
from netvalve_sandbox.hpf import load_script
from netvalve_sandbox.settings import SandboxSettings
from netvalve_sandbox.state import Ledger, Transaction
from netvalve_sandbox.webhooks import WebhookDispatcher
from netvalve_sandbox.wire import NetvalveJSONResponse, now


class Sandbox:
    def __init__(self, settings: SandboxSettings, webhook_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.public_url = settings.public_url.rstrip("/")
        self.ledger = Ledger()
        self.faults = FaultController(settings.default_knobs(), settings.timeout_seconds)
        self.webhooks = WebhookDispatcher(settings, webhook_client, lambda: self.faults.knobs)
        self.gateway = Gateway(settings, self.ledger, self.webhooks, knobs=lambda: self.faults.knobs)
        self.api_auth = ApiAuth(settings)
        self.backoffice_auth = BackofficeAuth(settings, self.ledger)
        self.script = load_script()

    def forced_decline(self, request: Request) -> str | None:
        """A `decline` asked for by header or knob; the middleware already answered malformed headers."""
        try:
            return self.faults.requested(request.url.path, request.headers.get(FAULT_HEADER)).decline
        except ValueError:
            return None

    def respond(self, txn: Transaction) -> Response:
        return NetvalveJSONResponse(transaction_response(txn, self.ledger, self.settings, now()))

    def set_knobs(self, knobs: Knobs) -> None:
        self.faults.set_knobs(knobs)
        if not knobs.out_of_order_webhooks:
            self.webhooks.flush_held()

    async def reset(self) -> None:
        async with self.ledger.lock:
            await self.gateway.aclose()
            self.gateway.clock_offset = timedelta(0)
            self.ledger.reset()
            self.webhooks.reset()
            self.set_knobs(self.settings.default_knobs())

    async def aclose(self) -> None:
        """Stop the pending-settlement timers and the webhook worker."""
        await self.gateway.aclose()
        await self.webhooks.aclose()
