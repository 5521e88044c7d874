"""The real-Medusa end-to-end test: one stack per session (see stack.py). It runs only when MEDUSA_E2E=1,
which scripts/medusa_e2e.sh sets after installing Medusa and building the provider package; a plain
``pytest`` does not collect it, so the main suite's count is unchanged."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from types import FrameType

import httpx
import pytest

from tests.medusa_e2e.flows import E2E
from tests.medusa_e2e.medusa_api import Admin, Storefront
from tests.medusa_e2e.stack import ADMIN_EMAIL, ADMIN_PASSWORD, E2EStack, StackError, new_stack, require_tools

collect_ignore_glob = [] if os.environ.get("MEDUSA_E2E") == "1" else ["test_*.py"]

TIMINGS: dict[str, float] = {}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@pytest.fixture(scope="session")
async def e2e_stack() -> AsyncIterator[E2EStack]:
    try:
        require_tools()
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)
    stack = new_stack()
    # pytest tears fixtures down on Ctrl-C only: make a SIGTERM (a timeout, a cancelled CI job) do the same.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        await stack.start()
        yield stack
    finally:
        TIMINGS.update(stack.timings)
        stack.stop()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
async def e2e(e2e_stack: E2EStack) -> AsyncIterator[E2E]:
    admin = await Admin.sign_in(e2e_stack.medusa_url, ADMIN_EMAIL, ADMIN_PASSWORD)
    catalog = await admin.seed()
    shop = Storefront(e2e_stack.medusa_url, catalog)
    async with (
        httpx.AsyncClient(base_url=e2e_stack.service_url, timeout=60) as service,
        httpx.AsyncClient(base_url=e2e_stack.sandbox_url, timeout=60) as nv,
    ):
        try:
            yield E2E(stack=e2e_stack, admin=admin, shop=shop, service=service, nv=nv, catalog=catalog)
        finally:
            await shop.aclose()
            await admin.aclose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        parts = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in TIMINGS.items())
        terminalreporter.write_line(f"medusa e2e timings: {parts}")
