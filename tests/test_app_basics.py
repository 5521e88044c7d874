"""Health, readiness, the error envelope, the request id and the access log."""

from __future__ import annotations

import json

import httpx
import pytest

from app.main import create_app
from tests.conftest import make_settings, start_app


async def test_health_answers_without_touching_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_both_databases(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "medusa_database": "ok", "configuration": "ok"}


async def test_request_id_is_echoed_when_valid_and_created_otherwise(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_unknown_route_uses_the_error_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope", headers={"X-Request-ID": "rid-1"})
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not Found", "request_id": "rid-1", "details": None}
    }


@pytest.mark.parametrize("log_format", ["console", "json"])
async def test_a_control_character_in_the_path_cannot_forge_an_access_log_line(
    db: str, log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = "INFO    app.access: request method=GET path=/health status=200"
    async for client in start_app(create_app(make_settings(db, log_format=log_format))):
        capsys.readouterr()
        await client.get("/api/v1/netvalve/x%0d%0a" + forged.replace(" ", "%20") + "%1b[2J")
        lines = capsys.readouterr().out.splitlines()

    access = [line for line in lines if line.startswith("INFO    app.access") or '"app.access"' in line]
    assert len(access) == 1, access
    [line] = access
    assert "\x1b" not in line  # a terminal escape sequence, raw
    if log_format == "json":
        path = json.loads(line)["path"]
    else:
        path = line.split(" path=", 1)[1].split(" status=")[0]
    assert path == "/api/v1/netvalve/x%0D%0A" + forged.replace(" ", "%20") + "%1B[2J", path
