"""Typed domain errors, named by condition, and the one error envelope every failure uses."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from asyncpg import InterfaceError as AsyncpgInterfaceError
from asyncpg import PostgresConnectionError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from app.core.logging import request_id_var

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str | None = None
    details: dict[str, Any] | list[Any] | None = None


class ErrorResponse(BaseModel):
    """The envelope of every error answer."""

    error: ErrorBody


class AppError(Exception):
    """Base of every error the API answers on purpose; subclasses fix the status and machine code."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "The request cannot be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail_message = message or self.message
        self.details = details
        self.headers = headers
        super().__init__(self.detail_message)


class MalformedBody(AppError):
    """A body that cannot be read as JSON at all: FastAPI answers this 400 before any validation."""

    status_code = 400
    code = "bad_request"
    message = "There was an error parsing the body"


class Unauthenticated(AppError):
    status_code = 401
    code = "unauthenticated"
    message = "Credentials are missing."


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "These credentials may not perform this operation."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class UnprocessableRequest(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request is not valid."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "The service cannot answer right now; retry later."


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests; retry after the time in Retry-After."

    def __init__(self, per: str, retry_after_seconds: int) -> None:
        super().__init__(details={"per": per}, headers={"Retry-After": str(retry_after_seconds)})


class DatabaseUnavailable(AppError):
    status_code = 503
    code = "database_unavailable"
    message = "The database is unavailable; retry later."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


DATABASE_RETRY_AFTER_SECONDS = 2


class MedusaBusy(AppError):
    """Every connection to Medusa's database stayed in use for ``MEDUSA_POOL_ACQUIRE_TIMEOUT_SECONDS``."""

    status_code = 503
    code = "medusa_busy"
    message = "Medusa's database is busy; retry later."

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


def is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says a database cannot be reached (down, restarting, pool exhausted), as opposed
    to a bug such as a constraint violation. Our only other network peer, NetValve, is reached through the
    gateway client, which turns its failures into results, so a bare connection error here is a database's."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc.orig, OSError | PostgresConnectionError)
    return isinstance(exc, _OUTAGE_TYPES)


# Exceptions that may mean an outage; ``is_database_outage`` decides for each instance.
_OUTAGE_TYPES = (
    OSError,
    TimeoutError,
    PoolTimeout,
    DBAPIError,
    PostgresConnectionError,
    AsyncpgInterfaceError,
)


def error_payload(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return ErrorResponse(
        error=ErrorBody(code=code, message=message, request_id=request_id_var.get(), details=details)
    ).model_dump(mode="json")


def error_response(
    status_code: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_payload(code, message, details), status_code=status_code, headers=headers)


def responses_for(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route: each status it may answer, with the envelope schema."""
    by_status: dict[int, list[str]] = {}
    for err in errors:
        by_status.setdefault(err.status_code, []).append(err.code)
    return {
        status: {"model": ErrorResponse, "description": "Error codes: " + ", ".join(sorted(set(codes)))}
        for status, codes in sorted(by_status.items())
    }


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]


def _allowed_methods(request: Request) -> str:
    """Every method any route serves at this path: Starlette's 405 names only the first route that matched."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(request.url.path):
            methods |= route.methods
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.detail_message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "validation_error", "The request is not valid.", _validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return error_response(exc.status_code, code, message, headers=headers)

    async def _database(_: Request, exc: Exception) -> JSONResponse:
        if not is_database_outage(exc):
            return await _unexpected(_, exc)
        logger.error("database unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
        error = DatabaseUnavailable()
        return error_response(error.status_code, error.code, error.detail_message, headers=error.headers)

    # Registered by class (not only as the catch-all) so that an outage is an answer, not a crash trace.
    for outage in (
        DBAPIError,
        PoolTimeout,
        OSError,
        TimeoutError,
        PostgresConnectionError,
        AsyncpgInterfaceError,
    ):
        app.add_exception_handler(outage, _database)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "An unexpected error occurred.")
