"""3-D Secure in a real browser (``NETVALVE_THREEDS=on``): the demo storefront sends the browser's data with
the payment, then follows the service's ``next_action``: the sandbox's challenge in a frame, as a full-page
redirect and back, or the hidden device-data frame; every test saves its final page as a screenshot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from devtools.medusa_rows import CartRows
from tests.browser.conftest import BrowserStack, Shopper

pytestmark = pytest.mark.browser

SERVICE_ENV = {"NETVALVE_THREEDS": "on"}
FRICTIONLESS_CARD = "4100 0000 0000 0100"
CHALLENGE_CARD = "4100 0000 0000 5000"
DEVICE_DATA_CHALLENGE_CARD = "4100 0000 0060 0008"


async def _charges(stack: BrowserStack, cart: CartRows) -> list[dict[str, Any]]:
    """The sales the sandbox recorded for this cart (the sandbox lives for the whole module)."""
    return [
        row
        for row in await stack.sandbox_charges()
        if (row["clientOrderId"] or "").startswith(f"{cart.payment_session_id}-")
    ]


async def _pay(shopper: Shopper, url: str, card: str) -> None:
    await shopper.page.goto(url)
    await shopper.page.locator("#pay-button:enabled").wait_for()
    await shopper.type_card(card)
    await shopper.page.click("#pay-button")


async def _press(shopper: Shopper, button: str) -> None:
    """The shopper answers the bank's challenge shown in the checkout's frame."""
    challenge = shopper.page.frame_locator("#threeds-challenge iframe")
    await challenge.locator(button).click()


async def test_frictionless_card_is_charged_with_its_authentication(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    cart = await browser_stack.cart(amount="23.40")
    await _pay(shopper, browser_stack.checkout_url(cart), FRICTIONLESS_CARD)

    assert "Payment approved" in await shopper.outcome("approved")
    [charge] = await _charges(browser_stack, cart)
    assert Decimal(charge["amount"]) == Decimal("23.40")
    assert charge["threeDS"]["eci"] == "05"
    assert await shopper.page.locator("#threeds-challenge iframe").count() == 0


async def test_challenge_completed_in_the_frame(browser_stack: BrowserStack, shopper: Shopper) -> None:
    cart = await browser_stack.cart(amount="61.00")
    await _pay(shopper, browser_stack.checkout_url(cart), CHALLENGE_CARD)

    frame = shopper.page.locator("#threeds-challenge iframe")
    await frame.wait_for()
    assert (await frame.get_attribute("src") or "").startswith(f"{browser_stack.sandbox_url}/3ds/challenge?")
    # Medusa's view while the shopper answers the bank.
    assert (await browser_stack.status(cart))["status"] == "requires_more"
    assert await _charges(browser_stack, cart) == []
    await _press(shopper, "#threeds-complete")

    assert "Payment approved" in await shopper.outcome("approved")
    assert (await browser_stack.status(cart))["status"] == "captured"
    [charge] = await _charges(browser_stack, cart)
    assert charge["threeDS"]["cavv"]
    assert await shopper.page.locator("#threeds").is_hidden()


async def test_challenge_failed_then_the_cart_is_payable_again(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    cart = await browser_stack.cart(amount="17.25")
    await _pay(shopper, browser_stack.checkout_url(cart), CHALLENGE_CARD)
    await _press(shopper, "#threeds-fail")

    text = await shopper.outcome("declined")
    assert "could not verify" in text
    status = await browser_stack.status(cart)
    assert (status["status"], status["response_code"]) == ("error", "3DS_2005")
    assert await _charges(browser_stack, cart) == []
    await shopper.page.locator("#retry").wait_for()


async def test_redirect_challenge_goes_to_the_bank_and_back(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    cart = await browser_stack.cart(amount="88.80")
    await _pay(shopper, browser_stack.checkout_url(cart) + "&threeds=redirect", CHALLENGE_CARD)

    await shopper.page.wait_for_url(f"{browser_stack.sandbox_url}/3ds/challenge?*")
    await shopper.page.click("#threeds-complete")
    await shopper.page.wait_for_url(f"{browser_stack.shop_url}/?*")

    assert "Payment approved" in await shopper.outcome("approved")
    assert "threeds_return" not in shopper.page.url
    [charge] = await _charges(browser_stack, cart)
    assert Decimal(charge["amount"]) == Decimal("88.80")
    assert charge["threeDS"]["eci"] == "05"


async def test_device_data_frame_then_challenge(browser_stack: BrowserStack, shopper: Shopper) -> None:
    cart = await browser_stack.cart(amount="12.00")
    await _pay(shopper, browser_stack.checkout_url(cart), DEVICE_DATA_CHALLENGE_CARD)

    await shopper.page.locator("#threeds-challenge iframe").wait_for()
    assert await shopper.page.locator("#threeds-device-data").is_hidden()
    await _press(shopper, "#threeds-complete")

    assert "Payment approved" in await shopper.outcome("approved")
    finishes = [sent for sent in shopper.service_requests if sent["url"].endswith("/threeds/finish")]
    assert len(finishes) == 2
