"""Medusa's payment link in a real browser: the demo storefront's page at the path Medusa 2.21.2's admin
copies for an order's payment collection (``/payment-collection/<id>?order_id=<order>``) shows what the order
owes and takes the card in NetValve's fields, with 3-D Secure on; every test saves its final page as a
screenshot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from devtools.medusa_rows import CollectionRows, create_order, create_order_collection
from tests.browser.conftest import BrowserStack, Shopper, _artifact

pytestmark = pytest.mark.browser

SERVICE_ENV = {"NETVALVE_THREEDS": "on"}
FRICTIONLESS_CARD = "4100 0000 0000 0100"
CHALLENGE_CARD = "4100 0000 0000 5000"
APPROVED_CARD = "4012000098765439"
SESSION_FAILS = {"fault": "error=500", "fault_paths": ["/hpf/initializeSession"]}
# One more item of 19.99 EUR with 19 % tax: the pending difference a real 2.21.2 order edit leaves.
DIFFERENCE = Decimal("23.7881")


async def _collection(stack: BrowserStack, amount: Decimal = DIFFERENCE, **kwargs: Any) -> CollectionRows:
    order = await create_order(stack.conn)
    return await create_order_collection(stack.conn, order.order_id, amount=amount, **kwargs)


def _link(stack: BrowserStack, collection: CollectionRows) -> str:
    """The link Medusa's admin copies ("copy payment link" on the order page)."""
    path = f"/payment-collection/{collection.payment_collection_id}"
    return f"{stack.shop_url}{path}?order_id={collection.order_id}"


async def _status(stack: BrowserStack, collection: CollectionRows) -> dict[str, Any]:
    response = await stack.service.get(
        "/api/v1/netvalve/status", params={"payment_collection_id": collection.payment_collection_id}
    )
    body: dict[str, Any] = response.json()
    return body


async def _charges(stack: BrowserStack, collection: CollectionRows) -> list[dict[str, Any]]:
    return [
        row
        for row in await stack.sandbox_charges()
        if (row["clientOrderId"] or "").startswith(f"{collection.payment_session_id}-")
    ]


async def test_the_page_shows_what_the_order_owes_and_takes_the_card(
    browser_stack: BrowserStack, shopper: Shopper, request: pytest.FixtureRequest
) -> None:
    collection = await _collection(browser_stack)
    page = shopper.page
    await page.goto(_link(browser_stack, collection))
    await page.locator("#pay-button:enabled").wait_for()

    # Medusa's exact 23.7881 rounded once, as NetValve is charged; the order as the link names it.
    assert await page.inner_text("#amount-due") == "€23.79"
    assert await page.inner_text("#pay-button") == "Pay €23.79"
    assert await page.inner_text("#order-id") == collection.order_id
    await shopper.type_card(FRICTIONLESS_CARD)
    # The page as the shopper first sees it (the final one, saved by the fixture, is after the reload).
    await page.screenshot(path=_artifact(request.node.name + "_before_paying"), full_page=True)
    await page.click("#pay-button")

    assert "Payment approved" in await shopper.outcome("approved")
    status = await _status(browser_stack, collection)
    assert (status["status"], Decimal(status["captured_amount"])) == ("captured", Decimal("23.79"))
    assert (status["cart_id"], Decimal(status["medusa_amount"])) == (None, DIFFERENCE)
    [charge] = await _charges(browser_stack, collection)
    assert (Decimal(charge["amount"]), charge["threeDS"]["eci"]) == (Decimal("23.79"), "05")
    payments = [sent for sent in shopper.service_requests if sent["url"].endswith("/payment")]
    assert payments
    # Reloading the paid link says so and offers no second payment.
    await page.reload()
    assert "Payment approved" in await shopper.outcome("approved")
    assert await page.locator("#hpf").is_hidden()
    assert len(await _charges(browser_stack, collection)) == 1


async def test_the_banks_challenge_on_the_payment_link_page(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    collection = await _collection(browser_stack, Decimal("61.00"))
    await shopper.page.goto(_link(browser_stack, collection))
    await shopper.page.locator("#pay-button:enabled").wait_for()
    await shopper.type_card(CHALLENGE_CARD)
    await shopper.page.click("#pay-button")

    await shopper.page.frame_locator("#threeds-challenge iframe").locator("#threeds-complete").click()

    assert "Payment approved" in await shopper.outcome("approved")
    assert (await _status(browser_stack, collection))["status"] == "captured"
    [charge] = await _charges(browser_stack, collection)
    assert charge["threeDS"]["cavv"]
    finishes = [sent for sent in shopper.service_requests if sent["url"].endswith("/threeds/finish")]
    assert len(finishes) == 1


async def test_a_link_to_a_collection_medusa_holds_paid_offers_no_payment(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    collection = await _collection(browser_stack, status="completed")
    await shopper.page.goto(_link(browser_stack, collection))

    assert "This order has nothing left to pay." in await shopper.outcome("error")
    assert await shopper.page.locator("#retry").is_hidden()
    assert await shopper.page.locator("#hpf").is_hidden()


async def test_the_hosted_page_fallback_comes_back_to_the_collections_status(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    collection = await _collection(browser_stack, Decimal("47.00"))
    await browser_stack.knobs(**SESSION_FAILS)
    page = shopper.page
    await page.goto(_link(browser_stack, collection))
    await page.click("#hpp-continue")
    await page.wait_for_url(f"{browser_stack.sandbox_url}/checkout?*")
    await page.fill("#cardHolderName", "Grace Hopper")
    await page.fill("#cardNumber", APPROVED_CARD)
    await page.fill("#expiryMonth", "12")
    await page.fill("#expiryYear", "2030")
    await page.fill("#cvv", "999")
    await page.click("button[value=pay]")
    await page.wait_for_url(f"{browser_stack.shop_url}/checkout/netvalve/success")

    assert "Payment approved" in await shopper.outcome("approved")
    assert await page.inner_text("#cart-id") == collection.payment_collection_id
    status = await _status(browser_stack, collection)
    assert (status["status"], Decimal(status["captured_amount"])) == ("captured", Decimal("47.00"))
