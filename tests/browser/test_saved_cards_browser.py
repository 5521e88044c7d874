"""Saved cards in the demo storefront, in Chromium: a guest sees no "Save this card" box; a signed-in customer
ticks it and pays, and the next checkout offers the card masked and pays with it (no card fields typed). Each
step's page is saved as a screenshot."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asyncpg import Connection
from playwright.async_api import expect

from devtools.medusa_rows import CartRows, create_customer
from tests.browser.conftest import BrowserStack, Shopper, _artifact

pytestmark = pytest.mark.browser

# A fixed test Fernet key (32 url-safe base64 bytes) for the service's vault.
SERVICE_ENV = {
    "SAVED_CARDS_ENABLED": "true",
    "SAVED_CARDS_ENCRYPTION_KEYS": "YnJvd3Nlci1zYXZlZC1jYXJkcy10ZXN0LWtleS0wMTI=",
}
APPROVED_CARD = "4012 0000 9876 5439"


async def _customers_cart(stack: BrowserStack, customer_id: str, amount: str) -> CartRows:
    """A cart of the registered customer, as Medusa leaves it for a signed-in shopper."""
    cart = await stack.cart(amount=amount)
    conn: Connection = stack.conn
    await conn.execute("UPDATE cart SET customer_id = $1 WHERE id = $2", customer_id, cart.cart_id)
    return cart


async def _screenshot(shopper: Shopper, request: pytest.FixtureRequest, step: str) -> None:
    await shopper.page.screenshot(path=_artifact(f"{request.node.name}_{step}"), full_page=True)


async def test_a_signed_in_customer_saves_the_card_and_pays_the_next_cart_with_it(
    browser_stack: BrowserStack, shopper: Shopper, request: pytest.FixtureRequest
) -> None:
    page = shopper.page
    customer_id = await create_customer(browser_stack.conn, email="saver@example.com", has_account=True)
    first = await _customers_cart(browser_stack, customer_id, "30.00")

    # A guest: the card form, and no box to save the card.
    await page.goto(browser_stack.checkout_url(first))
    await page.locator("#pay-button:enabled").wait_for()
    await expect(page.locator("#account-name")).to_have_text("Guest")
    await expect(page.locator("#save-card-option")).to_be_hidden()
    await expect(page.locator("#saved-cards")).to_be_hidden()

    # Signed in: the box is offered; the customer has no saved card yet.
    await page.fill("#sign-in-customer", customer_id)
    await page.click("#sign-in")
    await expect(page.locator("#account-name")).to_have_text("Signed in as saver@example.com")
    await page.locator("#pay-button:enabled").wait_for()
    await expect(page.locator("#save-card-option")).to_be_visible()
    await expect(page.locator("#save-card-option")).to_contain_text("Save this card for next time")
    await expect(page.locator("#saved-cards")).to_be_hidden()
    await shopper.type_card(APPROVED_CARD)
    await page.check("#save-card")
    await _screenshot(shopper, request, "1_first_checkout_saving_the_card")
    await page.click("#pay-button")
    assert "your card is saved for next time" in await shopper.outcome("approved")
    await _screenshot(shopper, request, "2_first_checkout_paid")
    status = await browser_stack.status(first)
    assert (status["status"], Decimal(status["captured_amount"])) == ("captured", Decimal("30.00"))

    # The next cart: the saved card, masked, paid with one click and no card typed.
    second = await _customers_cart(browser_stack, customer_id, "21.50")
    await page.goto(browser_stack.checkout_url(second))
    saved = page.locator("#saved-cards")
    await expect(saved).to_be_visible()
    card = page.locator("#saved-card-list .saved-card")
    await expect(card).to_have_count(1)
    await expect(card).to_contain_text("401200******5439")
    await expect(card).to_contain_text("expires 12/2030")
    assert APPROVED_CARD.replace(" ", "") not in await page.content()
    await expect(page.locator("#pay-saved-card")).to_have_text("Pay €21.50 with this card")
    await _screenshot(shopper, request, "3_second_checkout_offers_the_saved_card")
    await page.click("#pay-saved-card")
    assert "Payment approved" in await shopper.outcome("approved")

    status = await browser_stack.status(second)
    assert (status["status"], Decimal(status["captured_amount"])) == ("captured", Decimal("21.50"))
    charges = await browser_stack.sandbox_charges()
    assert [(c["type"], Decimal(c["amount"]), c["responseCode"]) for c in charges] == [
        ("SALE", Decimal("30.00"), "GTW_1000"),
        ("SALE", Decimal("21.50"), "GTW_1000"),
    ]
    # The second sale is a customer-initiated token sale: no card was typed.
    assert (charges[1]["paymentType"], charges[1]["additionalData"]["credentialOnFileTransaction"]) == (
        "TOKEN",
        "CIT",
    )
    # What the page sent: the publishable key only, and the saved card's id, never a token or a number.
    for sent in shopper.service_requests:
        assert "authorization" not in sent
