"""Payment-API authentication (api-key headers or Basic) and backoffice bearer tokens."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable

from fastapi import Request

from netvalve_sandbox.errors import Refused
from netvalve_sandbox.settings import SandboxSettings
from netvalve_sandbox.state import Ledger

CLIENT_ID_HEADER = "netvalve-client-id"
API_KEY_HEADER = "netvalve-api-key"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class ApiAuth:
    """Dependency: 401 `GTW_9001` for missing or wrong credentials, 401 `GTW_2082` for a wrong client id."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings

    def __call__(self, request: Request) -> None:
        settings = self.settings
        client_id = request.headers.get(CLIENT_ID_HEADER)
        api_key = request.headers.get(API_KEY_HEADER)
        if client_id is not None and not _same(client_id, settings.client_id):
            raise Refused("GTW_2082", status_code=401)
        if settings.basic_auth_enabled and self._basic_ok(request.headers.get("authorization")):
            return
        if client_id is None or api_key is None or not _same(api_key, settings.api_key.get_secret_value()):
            raise Refused("GTW_9001", status_code=401)

    def _basic_ok(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        assert self.settings.basic_auth_user is not None
        assert self.settings.basic_auth_password is not None
        return _same(user, self.settings.basic_auth_user) and _same(
            password, self.settings.basic_auth_password.get_secret_value()
        )


class BackofficeAuth:
    """Sign-in issues opaque bearer tokens that expire after `backoffice_token_ttl_seconds`."""

    def __init__(
        self, settings: SandboxSettings, ledger: Ledger, clock: Callable[[], float] = time.monotonic
    ):
        self.settings = settings
        self.ledger = ledger
        self.clock = clock

    def sign_in(self, user: object, password: object) -> str:
        expected_password = self.settings.backoffice_password.get_secret_value()
        if not (
            isinstance(user, str)
            and isinstance(password, str)
            and _same(user, self.settings.backoffice_user)
            and _same(password, expected_password)
        ):
            raise Refused("GTW_9001", status_code=401)
        token = secrets.token_urlsafe(32)
        self.ledger.backoffice_tokens[token] = self.clock() + self.settings.backoffice_token_ttl_seconds
        return token

    def __call__(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expires = self.ledger.backoffice_tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or expires <= self.clock():
            raise Refused("GTW_9001", status_code=401)
