"""A transport in front of the in-process sandbox that can script one answer per path: the ways NetValve
answers late, pending or not at all, which the sandbox's own knobs cannot time against a look-up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

# Every timeout tiny, so that a call's worst case (after which "not found" proves "not sent") is soon over.
TINY_TIMEOUTS: dict[str, float] = {
    "netvalve_connect_timeout_seconds": 0.01,
    "netvalve_read_timeout_seconds": 0.01,
    "netvalve_write_timeout_seconds": 0.01,
    "netvalve_pool_timeout_seconds": 0.01,
    "netvalve_max_retries": 0,
    "netvalve_lookup_lag_seconds": 0,
}
Script = Callable[[httpx.Request, httpx.AsyncBaseTransport], Awaitable[httpx.Response]]


@dataclass
class ScriptedTransport(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    scripts: dict[str, list[Script]] = field(default_factory=dict)
    background: list[asyncio.Task[httpx.Response]] = field(default_factory=list)

    def once(self, path: str, script: Script) -> None:
        self.scripts.setdefault(path, []).append(script)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        queue = self.scripts.get(request.url.path)
        if queue:
            return await queue.pop(0)(request, self.inner)
        return await self.inner.handle_async_request(request)


async def _forward(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
    response = await inner.handle_async_request(request)
    await response.aread()
    return response


def answered_pending() -> Script:
    """NetValve applies the operation but answers GTW_1002 (pending), with the transaction id."""

    async def script(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
        response = await _forward(request, inner)
        body = json.loads(response.content)
        body |= {
            "responseCode": "GTW_1002",
            "responseCodeType": "PENDING",
            "responseMessage": "Transaction status is Pending.",
        }
        return httpx.Response(200, json=body)

    return script


def delivered_after_timeout(release: asyncio.Event, transport: ScriptedTransport) -> Script:
    """The client times out at once, but the request reaches NetValve later (once ``release`` is set)."""

    async def script(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
        body = await request.aread()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)

        async def later() -> httpx.Response:
            await release.wait()
            return await _forward(copy, inner)

        transport.background.append(asyncio.create_task(later()))
        raise httpx.ReadTimeout("scripted: no answer in time", request=request)

    return script


def answered_after(release: asyncio.Event) -> Script:
    """NetValve applies the operation at once, but its answer arrives only once ``release`` is set."""

    async def script(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
        response = await _forward(request, inner)
        await release.wait()
        return response

    return script


def reaches_netvalve_after(release: asyncio.Event, started: asyncio.Event) -> Script:
    """The request is on the wire (``started``) and reaches NetValve only once ``release`` is set."""

    async def script(request: httpx.Request, inner: httpx.AsyncBaseTransport) -> httpx.Response:
        started.set()
        await release.wait()
        return await _forward(request, inner)

    return script
