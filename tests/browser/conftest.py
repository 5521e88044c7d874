"""Checkout in a real browser: Debian's Chromium driven by Playwright against the real processes (the service
as uvicorn in its own process, the NetValve sandbox and the demo storefront on sockets, PostgreSQL), with
the storefront served from an origin in ``STORE_CORS`` and from a second origin that is not.

Every test's final page is saved as ``test-artifacts/browser/<test>.png`` (``BROWSER_ARTIFACTS`` moves it)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Playwright, async_playwright, expect

from devtools.medusa_rows import CartRows, create_cart, create_publishable_key
from devtools.pgcluster import free_port
from devtools.storefront_server import create_storefront
from netvalve_sandbox.main import create_app as create_sandbox
from netvalve_sandbox.main import sandbox_of
from netvalve_sandbox.settings import SandboxSettings
from tests.conftest import ROOT, SERVICE_KEY, WEBHOOK_HEADER, WEBHOOK_SECRET
from tests.support.processes import WEBHOOK_PATH, SandboxServer, ServiceProcess, service_env, wait_until

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Headless as root on a closed network: without these Chromium refuses to start or its connections are cut.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "test-artifacts" / "browser"))
PENDING_SETTLE_SECONDS = 2.0
SERVICE_START_SECONDS = 30.0
UI_TIMEOUT_MS = 30_000
LAUNCH_TIMEOUT_MS = 90_000
expect.set_options(timeout=UI_TIMEOUT_MS)


@dataclass
class BrowserStack:
    service_url: str
    sandbox_url: str
    shop_url: str
    foreign_shop_url: str
    conn: asyncpg.Connection
    nv: httpx.AsyncClient
    service: httpx.AsyncClient

    async def cart(self, amount: str = "49.90", currency: str = "eur") -> CartRows:
        return await create_cart(self.conn, currency=currency, amount=Decimal(amount))

    def checkout_url(self, cart: CartRows, origin: str | None = None) -> str:
        return f"{origin or self.shop_url}/?cart_id={cart.cart_id}"

    async def status(self, cart: CartRows) -> dict[str, Any]:
        """The payment as the backend sees it (service key, full answer)."""
        response = await self.service.get("/api/v1/netvalve/status", params={"cart_id": cart.cart_id})
        body: dict[str, Any] = response.json()
        return body

    async def sandbox_charges(self, currency: str = "EUR") -> list[dict[str, Any]]:
        """Sales and authorizations the sandbox recorded in ``currency``."""
        rows = (await self.nv.get("/_sandbox/transactions")).json()
        return [
            row for row in rows if row["type"] in ("SALE", "AUTHORIZATION") and row["currency"] == currency
        ]

    async def knobs(self, **knobs: Any) -> None:
        response = await self.nv.put("/_sandbox/knobs", json=knobs)
        assert response.status_code == 200, response.text


@dataclass
class Shopper:
    """One browser tab, with what it said in its console and every request it sent to the service."""

    page: Page
    console: list[str] = field(default_factory=list)
    service_requests: list[dict[str, str]] = field(default_factory=list)

    def card_field(self, container: str) -> Any:
        return self.page.frame_locator(f"{container} iframe").locator("input")

    async def type_card(self, number: str, expiry: str = "12/30", cvv: str = "999") -> None:
        await self.card_field("#card-number").fill(number)
        await self.card_field("#card-expiry").fill(expiry)
        await self.card_field("#card-cvv").fill(cvv)

    async def outcome(self, value: str) -> str:
        """Wait until the page shows ``value`` (approved, declined, pending, ...); its text."""
        result = self.page.locator(f'#result[data-outcome="{value}"]')
        await result.wait_for(state="visible", timeout=UI_TIMEOUT_MS)
        return await result.inner_text()


@pytest.fixture(scope="module")
async def browser_stack(
    database_dsn: str, _table_names: list[str], request: pytest.FixtureRequest
) -> AsyncIterator[BrowserStack]:
    service_port, shop_port, foreign_port = free_port(), free_port(), free_port()
    service_url = f"http://127.0.0.1:{service_port}"
    shop_url, foreign_shop_url = f"http://127.0.0.1:{shop_port}", f"http://127.0.0.1:{foreign_port}"
    sandbox_port = free_port()
    sandbox_app = create_sandbox(
        SandboxSettings(
            public_url=f"http://127.0.0.1:{sandbox_port}",
            webhook_url=f"{service_url}{WEBHOOK_PATH}",
            webhook_header_name=WEBHOOK_HEADER,
            webhook_header_value=WEBHOOK_SECRET,
            pending_settle_seconds=PENDING_SETTLE_SECONDS,
        )
    )
    sandbox = SandboxServer(sandbox_app, sandbox_port)
    conn = await asyncpg.connect(database_dsn)
    logs = Path(tempfile.mkdtemp(prefix="netvalve-browser-"))
    key = await create_publishable_key(conn, title="Browser tests")
    # Like Medusa, the storefront server holds a service key for the signed-in customer's saved cards.
    shops = [
        SandboxServer(create_storefront(service_url, key, SERVICE_KEY), port)
        for port in (shop_port, foreign_port)
    ]
    env = service_env(database_dsn, sandbox.url) | {
        "STORE_CORS": shop_url,
        "NETVALVE_RETURN_BASE_URL": shop_url,
        "WEBHOOK_WORKER_ENABLED": "true",
        "NETVALVE_MAX_RETRIES": "0",
        # The HPP scenarios make NetValve's session step fail on purpose; the breaker must not open over it.
        "NETVALVE_CIRCUIT_FAILURE_THRESHOLD": "1000",
        # A test module may set more of the service's environment (e.g. NETVALVE_THREEDS).
        **getattr(request.module, "SERVICE_ENV", {}),
    }
    service = ServiceProcess(env, service_port, logs / "service.log")
    try:
        await sandbox.start()
        for shop in shops:
            await shop.start()
        service.start()
        async with (
            httpx.AsyncClient(base_url=sandbox.url, timeout=10) as nv,
            httpx.AsyncClient(
                base_url=service_url, timeout=10, headers={"Authorization": f"Bearer {SERVICE_KEY}"}
            ) as backend,
        ):

            async def ready() -> bool:
                with contextlib.suppress(httpx.TransportError):
                    return (await backend.get("/ready")).status_code == 200
                return False

            try:
                await wait_until(ready, SERVICE_START_SECONDS)
            except AssertionError:
                raise AssertionError((logs / "service.log").read_text()[-3000:]) from None
            yield BrowserStack(service_url, sandbox.url, shop_url, foreign_shop_url, conn, nv, backend)
    finally:
        service.stop()
        for shop in shops:
            await shop.stop()
        await sandbox.stop()
        await sandbox_of(sandbox_app).aclose()
        quoted = ", ".join(f'"{name}"' for name in _table_names)
        await conn.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        await conn.close()
        shutil.rmtree(logs, ignore_errors=True)


def _chromium() -> str:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: apt-get install chromium (scripts/test.sh does it)")
    return CHROMIUM


def _artifact(test_name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name) + ".png"))


async def save_final_page(page: Page, request: pytest.FixtureRequest) -> None:
    """The test's artifact: a screenshot of the page as the test left it, passed or failed."""
    with contextlib.suppress(Exception):
        await page.screenshot(path=_artifact(request.node.name), full_page=True)


@pytest.fixture(scope="session")
async def playwright_driver() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def browser(playwright_driver: Playwright) -> AsyncIterator[Browser]:
    # launch() gives every run a fresh, throwaway user-data-dir.
    browser = await playwright_driver.chromium.launch(
        executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
    )
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
async def shopper(
    browser: Browser, browser_stack: BrowserStack, request: pytest.FixtureRequest
) -> AsyncIterator[Shopper]:
    context = await browser.new_context(viewport={"width": 900, "height": 860})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()
    tab = Shopper(page)

    def on_console(message: ConsoleMessage) -> None:
        tab.console.append(message.text)

    def on_request(sent: Any) -> None:
        if sent.url.startswith(browser_stack.service_url):
            tab.service_requests.append({"method": sent.method, "url": sent.url, **sent.headers})

    page.on("console", on_console)
    page.on("request", on_request)
    try:
        yield tab
    finally:
        await save_final_page(page, request)
        await context.close()
        await browser_stack.knobs()
