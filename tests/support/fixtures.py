"""Pytest fixtures shared by several folders (a conftest imports the ones it uses): the NetValve sandbox
in-process and an HTTP client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from netvalve_sandbox.main import create_app as create_sandbox
from netvalve_sandbox.settings import SandboxSettings


@pytest.fixture
def sandbox() -> FastAPI:
    # https: the waterfall only accepts backoffice scripts served over https.
    return create_sandbox(
        SandboxSettings(
            webhooks_enabled=False,
            pending_settle_seconds=0,
            public_url="https://sandbox.test",
            timeout_seconds=0.2,
        )
    )


@pytest.fixture
async def nv_http(sandbox: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url="http://netvalve.test"
    ) as http:
        yield http
