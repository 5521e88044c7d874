"""Who may call what: service keys for money-moving routes, Medusa publishable keys for the storefront.

The FastAPI dependencies live here, in the API layer, because checking a publishable key reads Medusa's
``api_key`` table; ``app.core.security`` keeps the pure parts.

FastAPI reads and parses a JSON body before it solves a route's dependencies, so an anonymous caller could
make every route parse its body. ``AuthenticateBeforeBody`` runs each route's authentication first, and the
dependencies then return the caller it found."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.client_address import client_address, parse_ip
from app.core.config import Settings, StorefrontAuth
from app.core.errors import (
    AppError,
    DatabaseUnavailable,
    Forbidden,
    ServiceUnavailable,
    Unauthenticated,
    error_response,
    is_database_outage,
)
from app.core.security import (
    Caller,
    CallerKind,
    PublishableKeyCache,
    is_well_formed_publishable_key,
    matches_any,
)
from app.db.medusa import MedusaPool
from app.repositories.medusa import MedusaReader
from app.services.rate_limits import RateLimiter

logger = logging.getLogger(__name__)

PUBLISHABLE_KEY_HEADER = "x-publishable-api-key"
_CALLER = "caller"
# Routes whose requests send a card to NetValve: a 402 they answer is a decline, counted against the
# storefront's decline ceiling, and once it is reached they are refused.
CARD_ROUTES = frozenset({"/payment", "/threeds/finish"})
# Routes whose every request is a payment attempt or prepares one (a NetValve HPF session): they also count
# against the tighter per-address payment limit.
PAYMENT_ROUTES = CARD_ROUTES | {"/hpf/session"}
DECLINED = 402


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <service key>'.")
    return token.strip()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def request_address(request: Request) -> str | None:
    """The client's address: every ``X-Forwarded-For`` line, believed only through ``TRUSTED_PROXIES``."""
    peer = request.client.host if request.client else None
    return client_address(
        peer, request.headers.getlist("x-forwarded-for"), _settings(request).trusted_proxies
    )


def limit_address(request: Request) -> str | None:
    """The address a request is rate limited as: ``request_address``, or where an ``X-Forwarded-For`` hop
    cannot be read, the nearest trusted hop (a request is never left out of the per-address limits)."""
    peer = request.client.host if request.client else None
    return client_address(
        peer,
        request.headers.getlist("x-forwarded-for"),
        _settings(request).trusted_proxies,
        unreadable_as_proxy=True,
    )


def customer_ip(request: Request) -> str | None:
    """The shopper's address as our proxies saw it, for NetValve's risk checks; never one a body claims."""
    address = parse_ip(request_address(request))
    return str(address) if address is not None else None


def _known_caller(request: Request) -> Caller | None:
    caller: Caller | None = request.scope.get("state", {}).get(_CALLER)
    return caller


async def require_service_key(request: Request) -> Caller:
    if (known := _known_caller(request)) is not None:
        return known
    token = _bearer(request)
    if token is None:
        raise Unauthenticated("A service key is required: 'Authorization: Bearer <key>'.")
    settings = _settings(request)
    if not settings.service_api_keys or not matches_any(token, settings.service_api_keys):
        raise Forbidden("The service key is not valid.")
    return Caller(CallerKind.SERVICE, "service")


async def _storefront_caller(request: Request, token: str) -> Caller | None:
    cache: PublishableKeyCache = request.app.state.publishable_key_cache
    hit, caller = cache.get(token)
    if hit:
        return caller
    pool: MedusaPool = request.app.state.medusa_pool
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        # Random well-formed keys are each a miss: the address pays for them, not Medusa's database.
        await limiter.check_key_lookup(limit_address(request))
        key = await MedusaReader(
            pool, _settings(request).medusa_pool_acquire_timeout_seconds
        ).get_publishable_key(token)
    except AppError:
        raise
    except Exception as exc:
        # Also raised before any route runs (AuthenticateBeforeBody), where no exception handler would map it.
        if is_database_outage(exc):
            raise ServiceUnavailable("Medusa's database is unavailable.") from exc
        raise
    caller = Caller(CallerKind.STOREFRONT, key.id, key.sales_channel_ids) if key else None
    cache.put(token, caller)
    return caller


async def require_storefront(request: Request) -> Caller:
    """The storefront caller, with its key's id and sales channels (see ``Caller.may_use_sales_channel``)."""
    if (known := _known_caller(request)) is not None:
        return known
    if _settings(request).storefront_auth is StorefrontAuth.NONE:
        return Caller(CallerKind.STOREFRONT, "anonymous")
    token = request.headers.get(PUBLISHABLE_KEY_HEADER)
    if not token:
        raise Unauthenticated(f"The '{PUBLISHABLE_KEY_HEADER}' header is required.")
    # A malformed key costs neither a query nor a cache entry, whatever its size.
    caller = await _storefront_caller(request, token) if is_well_formed_publishable_key(token) else None
    if caller is None:
        raise Forbidden("The publishable key is not valid.")
    return caller


async def require_service_or_storefront(request: Request) -> Caller:
    """Status is readable by both; a bearer header means the caller claims to be a service."""
    if request.headers.get("authorization"):
        return await require_service_key(request)
    return await require_storefront(request)


ServiceAuth = Annotated[Caller, Depends(require_service_key)]
StorefrontAuthDep = Annotated[Caller, Depends(require_storefront)]
AnyCaller = Annotated[Caller, Depends(require_service_or_storefront)]

Authenticator = Callable[[Request], Awaitable[Caller]]
_AUTHENTICATORS: tuple[Authenticator, ...] = (
    require_service_key,
    require_storefront,
    require_service_or_storefront,
)


def _authenticator(dependant: Dependant) -> Authenticator | None:
    for dependency in dependant.dependencies:
        if dependency.call in _AUTHENTICATORS:
            authenticator: Authenticator = dependency.call
            return authenticator
        if (nested := _authenticator(dependency)) is not None:
            return nested
    return None


@dataclass(frozen=True, slots=True)
class AuthenticatedRoute:
    path: re.Pattern[str]
    methods: frozenset[str]
    authenticate: Authenticator
    is_payment: bool
    sends_card: bool


def authenticated_routes(prefix: str, routers: Iterable[APIRouter]) -> list[AuthenticatedRoute]:
    """The routes of ``routers`` (mounted under ``prefix``) that depend on one of the auth dependencies."""
    found = []
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and (authenticate := _authenticator(route.dependant)) is not None:
                path, _, _ = compile_path(prefix + route.path)
                found.append(
                    AuthenticatedRoute(
                        path,
                        frozenset(route.methods or ()),
                        authenticate,
                        route.path in PAYMENT_ROUTES,
                        route.path in CARD_ROUTES,
                    )
                )
    return found


async def _limit(request: Request, caller: Caller, route: AuthenticatedRoute) -> None:
    """A storefront caller's request counted against its rate limits (``RateLimiter``)."""
    if caller.kind is not CallerKind.STOREFRONT:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        await limiter.check(
            caller, limit_address(request), payment=route.is_payment, sends_card=route.sends_card
        )
    except AppError:
        raise
    except Exception as exc:
        if is_database_outage(exc):
            raise DatabaseUnavailable() from exc
        raise


class AuthenticateBeforeBody:
    """Runs the authentication of the route a request is for before the route reads its body, then its rate
    limits, and leaves the caller where the route's auth dependency returns it from. Headers only: ``receive``
    is never called, so a refused request costs no body parsing."""

    def __init__(self, app: ASGIApp, routes: list[AuthenticatedRoute]) -> None:
        self.app = app
        self.routes = routes

    def _route_for(self, scope: Scope) -> AuthenticatedRoute | None:
        for route in self.routes:
            if scope["method"] in route.methods and route.path.match(scope["path"]):
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route_for(scope) if scope["type"] == "http" else None
        if route is not None:
            request = Request(scope)
            try:
                caller = await route.authenticate(request)
                await _limit(request, caller, route)
            except AppError as error:
                refusal = error_response(
                    error.status_code, error.code, error.detail_message, error.details, error.headers
                )
                await refusal(scope, receive, send)
                return
            scope.setdefault("state", {})[_CALLER] = caller
            if route.sends_card and caller.kind is CallerKind.STOREFRONT:
                await self._counting_declines(request, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _counting_declines(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route; a decline it answered is counted once the answer is sent (the shopper never
        waits for the count)."""
        statuses: list[int] = []

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        await self.app(scope, receive, watching)
        if statuses == [DECLINED]:
            limiter: RateLimiter = request.app.state.rate_limiter
            try:
                await limiter.record_decline()
            except Exception:
                logger.exception("a decline could not be counted against the storefront's ceiling")
