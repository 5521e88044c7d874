"""Hosted Payment Fields: the served stub SDK, its SRI hash, and the session JWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from importlib import resources

SCRIPT_NAME = "index.sandbox.js"
SCRIPT_VERSION = "sandbox"


@dataclass(frozen=True)
class ScriptAsset:
    body: bytes
    integrity: str


def load_script() -> ScriptAsset:
    body = resources.files("netvalve_sandbox").joinpath("static", SCRIPT_NAME).read_bytes()
    digest = base64.b64encode(hashlib.sha384(body).digest()).decode()
    return ScriptAsset(body=body, integrity=f"sha384-{digest}")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_jwt(secret: str, ttl_seconds: float, issued_at: int | None = None) -> str:
    """An HS256 JWT shaped like NetValve's HPF token: `{"iss":"NETVALVE","iat":..,"exp":iat+300}`."""
    iat = int(time.time()) if issued_at is None else issued_at
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iss": "NETVALVE", "iat": iat, "exp": iat + max(1, round(ttl_seconds))}
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def jwt_valid(token: str, secret: str, now: int | None = None) -> bool:
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64url_decode(signature)):
            return False
        claims = json.loads(_b64url_decode(payload))
    except ValueError:
        return False
    moment = int(time.time()) if now is None else now
    return isinstance(claims, dict) and isinstance(claims.get("exp"), int) and claims["exp"] > moment
