"""Application factory: ``app.main:app`` is what uvicorn and the Dockerfile run."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app.api.auth import AuthenticateBeforeBody, authenticated_routes
from app.api.health import router as health_router
from app.api.v1.endpoints.netvalve.router import PREFIX as NETVALVE_PREFIX
from app.api.v1.endpoints.netvalve.router import ROUTERS as NETVALVE_ROUTERS
from app.api.v1.endpoints.netvalve.router import WEBHOOK_PATH
from app.api.v1.endpoints.netvalve.router import router as netvalve_router
from app.core.config import Settings, get_settings
from app.core.cors import StorefrontCORSMiddleware
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import RequestContextMiddleware, RequestLimitsMiddleware
from app.core.security import PublishableKeyCache
from app.db.medusa import create_medusa_pool
from app.db.session import create_autocommit_sessionmaker, create_engine, create_sessionmaker
from app.gateway import NetValveClient, build_http_client
from app.runtime import run_background_workers
from app.services.rate_limits import RateLimiter

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, http_client: httpx.AsyncClient | None = None) -> FastAPI:
    """Build the service; tests pass their own settings and an HTTP client wired to the sandbox."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        medusa_pool = await create_medusa_pool(settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.autocommit = create_autocommit_sessionmaker(engine)
        app.state.medusa_pool = medusa_pool
        http = http_client or build_http_client(settings)
        app.state.http = http
        app.state.gateway = NetValveClient(http, settings)
        app.state.publishable_key_cache = PublishableKeyCache(
            settings.publishable_key_cache_seconds, settings.publishable_key_cache_max_entries
        )
        app.state.rate_limiter = RateLimiter(settings, engine)
        logger.info("service started", extra={"app_env": settings.app_env.value})
        try:
            async with run_background_workers(app):
                yield
        finally:
            if http_client is None:
                await http.aclose()
            await medusa_pool.close()
            await engine.dispose()
            logger.info("service stopped")

    app = FastAPI(
        title="NetValve payment service for Medusa",
        version="0.1.0",
        lifespan=lifespan,
        # Production publishes no map of the API: no schema, no docs pages.
        openapi_url=None if settings.is_production else "/openapi.json",
        docs_url=None if settings.is_production else "/docs",
        redoc_url=None,
    )
    # The last added runs first: the request id, then the size limits, then authentication, then the route.
    app.add_middleware(AuthenticateBeforeBody, routes=authenticated_routes(NETVALVE_PREFIX, NETVALVE_ROUTERS))
    app.add_middleware(
        RequestLimitsMiddleware,
        max_header_bytes=settings.request_max_header_bytes,
        max_body_bytes=settings.request_max_body_bytes,
        body_limits={WEBHOOK_PATH: settings.webhook_max_body_bytes},
    )
    app.add_middleware(RequestContextMiddleware)
    if settings.store_cors:
        app.add_middleware(StorefrontCORSMiddleware, origins=settings.store_cors)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(netvalve_router)
    return app


def __getattr__(name: str) -> FastAPI:
    # ``app.main:app`` is built on first access so importing this module never reads the environment.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
