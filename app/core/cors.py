"""CORS for the storefront routes only: a browser on a ``STORE_CORS`` origin may call them directly."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# The routes a checkout page calls with the publishable key. Capture, refund, cancel, reconcile and the
# webhook are server-to-server: they never answer a preflight, so a page cannot even try them.
STOREFRONT_PATHS = frozenset(
    {
        "/api/v1/netvalve/hpf/session",
        "/api/v1/netvalve/payment",
        "/api/v1/netvalve/threeds/finish",
        "/api/v1/netvalve/status",
    }
)
STOREFRONT_METHODS = ("GET", "POST")
STOREFRONT_HEADERS = ("content-type", "x-publishable-api-key", "idempotency-key", "x-request-id")


class StorefrontCORSMiddleware:
    """Starlette's CORS handling, applied to ``STOREFRONT_PATHS`` and nothing else."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=STOREFRONT_METHODS,
            allow_headers=STOREFRONT_HEADERS,
            expose_headers=("x-request-id",),
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in STOREFRONT_PATHS:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
