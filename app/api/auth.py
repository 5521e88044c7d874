"""Who may call what: service keys for money-moving routes, Medusa publishable keys for the storefront.

The FastAPI dependencies live here, in the API layer, because checking a publishable key reads Medusa's
``api_key`` table; ``app.core.security`` keeps the pure parts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings, StorefrontAuth
from app.core.errors import Forbidden, ServiceUnavailable, Unauthenticated
from app.core.security import Caller, CallerKind, PublishableKeyCache, matches_any
from app.db.medusa import MedusaPool
from app.repositories.medusa import MedusaReader


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


def require_service_key(request: Request) -> Caller:
    token = _bearer(request)
    if token is None:
        raise Unauthenticated("A service key is required: 'Authorization: Bearer <key>'.")
    settings = _settings(request)
    if not settings.service_api_keys or not matches_any(token, settings.service_api_keys):
        raise Forbidden("The service key is not valid.")
    return Caller(CallerKind.SERVICE, "service")


async def _publishable_key_id(request: Request, token: str) -> str | None:
    cache: PublishableKeyCache = request.app.state.publishable_key_cache
    hit, key_id = cache.get(token)
    if hit:
        return key_id
    pool: MedusaPool = request.app.state.medusa_pool
    try:
        key = await MedusaReader(pool).get_publishable_key(token)
    except (OSError, TimeoutError) as exc:
        raise ServiceUnavailable("Medusa's database is unavailable.") from exc
    key_id = key.id if key else None
    cache.put(token, key_id)
    return key_id


async def require_storefront(request: Request) -> Caller:
    if _settings(request).storefront_auth is StorefrontAuth.NONE:
        return Caller(CallerKind.STOREFRONT, "anonymous")
    token = request.headers.get("x-publishable-api-key")
    if not token:
        raise Unauthenticated("The 'x-publishable-api-key' header is required.")
    key_id = await _publishable_key_id(request, token)
    if key_id is None:
        raise Forbidden("The publishable key is not valid.")
    return Caller(CallerKind.STOREFRONT, key_id)


async def require_service_or_storefront(request: Request) -> Caller:
    """Status is readable by both; a bearer header means the caller claims to be a service."""
    if request.headers.get("authorization"):
        return require_service_key(request)
    return await require_storefront(request)


ServiceAuth = Annotated[Caller, Depends(require_service_key)]
StorefrontAuthDep = Annotated[Caller, Depends(require_storefront)]
AnyCaller = Annotated[Caller, Depends(require_service_or_storefront)]
