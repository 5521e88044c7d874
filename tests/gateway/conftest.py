"""Fixtures for the NetValve gateway tests: hermetic settings, a fake clock and sleep, respx."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from app.gateway import NetValveClient, build_http_client
from tests.support.gateway import FakeClock, FakeSleep, make_settings


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings also read NETVALVE_MID_ID_* straight from the process environment.
    for name in list(os.environ):
        if name.upper().startswith("NETVALVE_") or name.upper() == "APP_ENV":
            monkeypatch.delenv(name)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Shared like the app shares it; respx patches the transport underneath, per test.
    async with build_http_client(make_settings()) as client:
        yield client


@pytest.fixture
def make_gateway(
    http: httpx.AsyncClient, clock: FakeClock, sleep: FakeSleep
) -> Callable[..., NetValveClient]:
    def build(**overrides: Any) -> NetValveClient:
        return NetValveClient(http, make_settings(**overrides), sleep=sleep, clock=clock, rng=lambda: 0.5)

    return build


@pytest.fixture
def gateway(make_gateway: Callable[..., NetValveClient]) -> NetValveClient:
    return make_gateway()
