"""The sandbox's Token Fields SDK in Chromium, integrated exactly as NetValve's guides show (the JS
configuration with the default form submit, and the HTML-only ``<netvalve-tokenfields>`` element), on a
merchant page of its own origin: the same script tag, events, callbacks and methods as NetValve's SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from playwright.async_api import Browser, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from devtools.pgcluster import free_port
from netvalve_sandbox.main import create_app as create_sandbox
from netvalve_sandbox.main import sandbox_of
from netvalve_sandbox.settings import SandboxSettings
from tests.browser.conftest import UI_TIMEOUT_MS, save_final_page
from tests.support.processes import SANDBOX_AUTH, SandboxServer

pytestmark = pytest.mark.browser

EVENTS = [
    "netvalve-sdk-ready",
    "field-initiated",
    "all-fields-ready",
    "field-validation",
    "field-tokenization",
    "all-fields-tokenized",
    "card-type",
]
RECORDER = f"""<script>
window.events = [];
{json.dumps(EVENTS)}.forEach((name) =>
  window.addEventListener(name, (event) => window.events.push(Object.assign({{event: name}}, event.detail))));
</script>"""
JS_PAGE = """<!doctype html><html lang="en"><head><title>Merchant checkout</title></head><body>
<form id="payment-form" action="/pay" method="post">
  <input type="hidden" name="order" value="A-1">
  <div id="card-number-container"></div><div id="cvv-container"></div><div id="expiry-container"></div>
  <button id="submit-button" type="submit">Pay</button>
</form>
{recorder}
<script type="text/javascript" integrity="{integrity}" crossorigin="anonymous" src="{src}"></script>
<script>
window.Netvalve.initTokenFields({{
  formSelector: '#payment-form',
  fields: {{
    cardNumber: {{ containerSelector: '#card-number-container' }},
    cardCvv: {{ containerSelector: '#cvv-container' }},
    cardExpiry: {{ containerSelector: '#expiry-container' }}
  }},
  invalidStyles: {{ 'border-color': 'red' }}
}});
</script></body></html>"""
HTML_PAGE = """<!doctype html><html lang="en"><head><title>Merchant checkout</title></head><body>
<netvalve-tokenfields interceptFormSubmit="false" style="font-size: 18px;">
  <form id="payment-form">
    <netvalve-cardnumber></netvalve-cardnumber>
    <netvalve-cvv></netvalve-cvv>
    <netvalve-expiry></netvalve-expiry>
    <button id="submit-button" type="button">Pay</button>
  </form>
</netvalve-tokenfields>
{recorder}
<script type="text/javascript" integrity="{integrity}" crossorigin="anonymous" src="{src}"></script>
</body></html>"""


@dataclass
class MerchantSite:
    """The merchant's own web server (a loopback origin other than the sandbox's): its checkout page, and
    what its form posted."""

    html: str = ""
    posted: list[dict[str, list[str]]] = field(default_factory=list)

    async def checkout(self, _: Request) -> Response:
        return HTMLResponse(self.html)

    async def pay(self, request: Request) -> Response:
        self.posted.append(parse_qs((await request.body()).decode()))
        return HTMLResponse("<h1>Order placed</h1>")

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/checkout", self.checkout), Route("/pay", self.pay, methods=["POST"])]
        )


@dataclass
class Merchant:
    page: Page
    nv: httpx.AsyncClient
    site: MerchantSite
    url: str
    session: dict[str, Any] = field(default_factory=dict)

    async def open(self, template: str) -> None:
        response = await self.nv.get("/hpf/initializeSession", headers=SANDBOX_AUTH)
        self.session = response.json()
        self.site.html = template.format(
            recorder=RECORDER, integrity=self.session["integrity"], src=self.session["netvalveScriptSrc"]
        )
        self.site.posted.clear()
        console: list[str] = []
        self.page.on("console", lambda message: console.append(message.text))
        await self.page.goto(f"{self.url}/checkout")
        try:
            await self.page.wait_for_function("window.events.some((e) => e.event === 'all-fields-ready')")
        except Exception:
            raise AssertionError(f"the fields never became ready; console: {console}") from None

    def field(self, container: str) -> Any:
        return self.page.frame_locator(f"{container} iframe").locator("input")

    async def events(self, name: str, at_least: int = 0) -> list[dict[str, Any]]:
        """The ``name`` events so far, once there are ``at_least`` of them (frames report asynchronously)."""
        await self.page.wait_for_function(
            "([name, count]) => window.events.filter((e) => e.event === name).length >= count",
            arg=[name, at_least],
        )
        found: list[dict[str, Any]] = await self.page.evaluate(
            "(name) => window.events.filter((e) => e.event === name)", name
        )
        return found

    async def sale(self, token: str, client_order_id: str) -> dict[str, Any]:
        body = {
            "amount": 10.0,
            "currency": "EUR",
            "paymentType": "CARD",
            "paymentToken": token,
            "siteId": "site-1",
            "clientOrderId": client_order_id,
        }
        answer: dict[str, Any] = (await self.nv.post("/sale", json=body, headers=SANDBOX_AUTH)).json()
        return answer


@pytest.fixture(scope="module")
async def sdk_servers() -> AsyncIterator[tuple[httpx.AsyncClient, MerchantSite, str]]:
    port = free_port()
    app = create_sandbox(SandboxSettings(public_url=f"http://127.0.0.1:{port}", webhooks_enabled=False))
    sandbox = SandboxServer(app, port)
    site = MerchantSite()
    merchant_server = SandboxServer(site.app())
    await sandbox.start()
    await merchant_server.start()
    try:
        async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as nv:
            yield nv, site, merchant_server.url
    finally:
        await merchant_server.stop()
        await sandbox.stop()
        await sandbox_of(app).aclose()


@pytest.fixture
async def merchant(
    browser: Browser,
    sdk_servers: tuple[httpx.AsyncClient, MerchantSite, str],
    request: pytest.FixtureRequest,
) -> AsyncIterator[Merchant]:
    context = await browser.new_context(viewport={"width": 700, "height": 420})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()
    try:
        yield Merchant(page, *sdk_servers)
    finally:
        await save_final_page(page, request)
        await context.close()


async def test_js_integration_events_validation_and_default_form_submit(merchant: Merchant) -> None:
    await merchant.open(JS_PAGE)
    token = merchant.session["paymentToken"]

    assert len(await merchant.events("netvalve-sdk-ready")) == 1
    initiated = await merchant.events("field-initiated")
    assert sorted(event["fieldName"] for event in initiated) == ["cardCvv", "cardExpiry", "cardNumber"]
    assert all(event["paymentToken"] == token for event in initiated)

    await merchant.field("#card-number-container").fill("4012 0000 9876 5439")
    await merchant.field("#expiry-container").fill("13/99")
    await merchant.field("#cvv-container").click()
    await merchant.page.wait_for_function(
        "window.events.some((e) => e.event === 'field-validation' && e.fieldName === 'cardExpiry')"
    )
    [card_type] = await merchant.events("card-type", at_least=1)
    assert (card_type["typeData"]["type"], card_type["typeData"]["niceType"]) == ("visa", "Visa")
    invalid = [event for event in await merchant.events("field-validation") if not event["success"]]
    assert [(event["fieldName"], event["message"]) for event in invalid] == [
        ("cardExpiry", "Expiry date is invalid. Use MM/YY.")
    ]
    assert await merchant.field("#expiry-container").get_attribute("aria-invalid") == "true"

    await merchant.field("#expiry-container").fill("12/30")
    await merchant.field("#cvv-container").fill("999")
    await merchant.page.click("#submit-button")
    await merchant.page.wait_for_url(f"{merchant.url}/pay")

    [posted] = merchant.site.posted
    assert posted == {"order": ["A-1"], "paymentToken": [token]}
    sale = await merchant.sale(token, "sdk-js-1")
    assert (sale["responseCode"], sale["cardNumber"], sale["paymentTokenType"]) == (
        "GTW_1000",
        "401200******5439",
        "GATEWAY_TOKEN",
    )
    assert Decimal(str(sale["amount"])) == Decimal("10.00")


async def test_html_integration_tokenizes_through_the_element(merchant: Merchant) -> None:
    await merchant.open(HTML_PAGE)
    element = "document.querySelector('netvalve-tokenfields')"

    await merchant.field("netvalve-cardnumber").fill("4000 0000 0000 9995")
    await merchant.field("netvalve-expiry").fill("12/30")
    refused = await merchant.page.evaluate(f"{element}.tokenizeFields()")
    assert refused is None
    [cvv] = [event for event in await merchant.events("field-validation") if event["fieldName"] == "cardCvv"]
    assert (cvv["success"], cvv["message"]) == (False, "Security code is required.")

    await merchant.field("netvalve-cvv").fill("123")
    token = await merchant.page.evaluate(f"{element}.tokenizeFields()")

    assert token == merchant.session["paymentToken"]
    assert await merchant.page.evaluate(f"{element}.allFieldsTokenized()") is True
    tokenized = await merchant.events("all-fields-tokenized")
    assert [event["success"] for event in tokenized] == [False, True]
    font_size = await merchant.field("netvalve-cardnumber").evaluate("(input) => input.style.fontSize")
    assert font_size == "18px"
    sale = await merchant.sale(token, "sdk-html-1")
    assert (sale["responseCode"], sale["cardNumber"]) == ("BNK_2011", "400000******9995")
