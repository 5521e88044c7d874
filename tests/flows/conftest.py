"""Fixtures of the flow tests: stacks (``tests.support.stack``) opened on the in-process sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from devtools.medusa_rows import create_publishable_key
from tests.conftest import make_settings, start_app
from tests.support.fixtures import nv_http, sandbox
from tests.support.scripted import ScriptedTransport
from tests.support.stack import OpenScripted, Stack, open_stack

__all__ = ["authorize_stack", "hosted", "nv_http", "sandbox", "scripted", "stack"]


@pytest.fixture
async def stack(db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection) -> AsyncIterator[Stack]:
    async for s in open_stack(db, nv_http, medusa_conn):
        yield s


@pytest.fixture
async def authorize_stack(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> AsyncIterator[Stack]:
    async for s in open_stack(db, nv_http, medusa_conn, netvalve_capture_mode="authorize"):
        yield s


@pytest.fixture
async def hosted(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> AsyncIterator[Stack]:
    """A stack whose hosted fields are down, so that the waterfall sends the shopper to the hosted page."""
    async for stack in open_stack(
        db,
        nv_http,
        medusa_conn,
        netvalve_return_base_url="https://shop.example.com",
        netvalve_max_retries=0,
        medusa_webhook_url="http://medusa.test/hooks/payment/netvalve_netvalve",
    ):
        await stack.knobs(fault="html502", fault_paths=["/hpf/initializeSession"])
        yield stack


@pytest.fixture
async def scripted(db: str, sandbox: FastAPI, medusa_conn: asyncpg.Connection) -> AsyncIterator[OpenScripted]:
    """Open a stack whose NetValve answers can be scripted; settings overrides as keyword arguments."""
    async with contextlib_stack() as opened:

        async def open_(**overrides: Any) -> tuple[Stack, ScriptedTransport]:
            transport = ScriptedTransport(httpx.ASGITransport(app=sandbox))
            http = httpx.AsyncClient(transport=transport, base_url="http://netvalve.test")
            nv = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=sandbox), base_url="http://netvalve.test"
            )
            app = create_app(make_settings(db, **overrides), http_client=http)
            key = await create_publishable_key(medusa_conn)
            agen = start_app(app)
            client = await agen.__anext__()
            opened.append((agen, http, nv, transport))
            return Stack(client=client, nv=nv, conn=medusa_conn, app=app, publishable_key=key), transport

        yield open_


@asynccontextmanager
async def contextlib_stack() -> AsyncIterator[list[Any]]:
    opened: list[Any] = []
    try:
        yield opened
    finally:
        for agen, http, nv, transport in reversed(opened):
            for task in transport.background:
                task.cancel()
            await agen.aclose()
            await http.aclose()
            await nv.aclose()
