"""A shopper pays in the demo storefront, in Chromium: NetValve's card fields (the sandbox's SDK, each field
in its own frame), the payment with the token, and what the page tells the shopper afterwards."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.async_api import Route, expect

from tests.browser.conftest import BrowserStack, Shopper

pytestmark = pytest.mark.browser

APPROVED_CARD = "4012 0000 9876 5439"
DECLINED_CARD = "4000 0000 0000 9995"  # insufficient funds
PENDING_AMOUNT = "1002.00"  # the sandbox answers GTW_1002 pending, then settles as approved
SESSION_FAILS = {"fault": "error=500", "fault_paths": ["/hpf/initializeSession"]}


async def _open_checkout(shopper: Shopper, url: str) -> None:
    await shopper.page.goto(url)
    await shopper.page.locator("#pay-button:enabled").wait_for()


async def test_approved_card_after_validation_messages(browser_stack: BrowserStack, shopper: Shopper) -> None:
    cart = await browser_stack.cart(amount="49.90", currency="eur")
    await _open_checkout(shopper, browser_stack.checkout_url(cart))
    page = shopper.page

    # The amount and currency on the page come from the service (Medusa's payment session), not the page.
    assert await page.inner_text("#cart-total") == "€49.90"
    assert await page.inner_text("#pay-button") == "Pay €49.90"
    # Each card field is an iframe on the sandbox's origin: the page itself holds no card input (the
    # "Save this card" checkbox, hidden from a guest, holds no card data).
    frames = page.locator("#payment-form iframe")
    assert await frames.count() == 3
    for index in range(3):
        assert (await frames.nth(index).get_attribute("src") or "").startswith(browser_stack.sandbox_url)
    assert await page.locator("#payment-form input:not([type=hidden]):not([type=checkbox])").count() == 0

    await shopper.type_card("4111 1111 1111 1112", expiry="13/30", cvv="99")
    await page.click("#pay-button")
    await expect(page.locator(".field-error")).to_have_text(
        ["Card number is invalid.", "Expiry date is invalid. Use MM/YY.", "Security code is invalid."]
    )
    assert await browser_stack.sandbox_charges() == []

    await shopper.type_card(APPROVED_CARD, expiry="12/30", cvv="999")
    await page.click("#pay-button")
    text = await shopper.outcome("approved")

    assert "Payment approved" in text
    status = await browser_stack.status(cart)
    assert (status["status"], Decimal(status["captured_amount"])) == ("captured", Decimal("49.90"))
    [charge] = await browser_stack.sandbox_charges()
    assert (charge["type"], Decimal(charge["amount"]), charge["responseCode"]) == (
        "SALE",
        Decimal("49.90"),
        "GTW_1000",
    )
    # The page spoke to the service with the publishable key only, never a service key.
    assert shopper.service_requests
    for sent in shopper.service_requests:
        assert sent["x-publishable-api-key"].startswith("pk_")
        assert "authorization" not in sent


async def test_reloading_a_paid_checkout_says_so_without_a_second_charge(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    cart = await browser_stack.cart(amount="12.00", currency="eur")
    await _open_checkout(shopper, browser_stack.checkout_url(cart))
    await shopper.type_card(APPROVED_CARD)
    await shopper.page.click("#pay-button")
    await shopper.outcome("approved")

    await shopper.page.reload()
    assert "Payment approved" in await shopper.outcome("approved")

    # Refunded by the shop: the page offers no new payment for the cart (the service says it is paid).
    transaction_id = (await browser_stack.status(cart))["netvalve_transaction_id"]
    refund = await browser_stack.service.post(
        "/api/v1/netvalve/refund", json={"transaction_id": transaction_id}
    )
    assert refund.status_code == 200, refund.text
    await shopper.page.reload()
    text = await shopper.outcome("error")

    assert "This cart is already paid." in text
    assert await shopper.page.locator("#retry").is_hidden()
    charges = await browser_stack.sandbox_charges()
    ours = [c for c in charges if str(c["clientOrderId"]).startswith(f"{cart.payment_session_id}-")]
    assert [(c["clientOrderId"], Decimal(c["amount"])) for c in ours] == [
        (f"{cart.payment_session_id}-1", Decimal("12.00"))
    ]


async def test_declined_card_then_another_card(browser_stack: BrowserStack, shopper: Shopper) -> None:
    cart = await browser_stack.cart(amount="19.99", currency="usd")
    await _open_checkout(shopper, browser_stack.checkout_url(cart))

    await shopper.type_card(DECLINED_CARD)
    await shopper.page.click("#pay-button")
    declined = await shopper.outcome("declined")
    assert "Your card was declined" in declined
    assert (await browser_stack.status(cart))["status"] == "error"

    await shopper.page.click("#retry")
    await shopper.page.locator("#pay-button:enabled").wait_for()
    await shopper.type_card(APPROVED_CARD)
    await shopper.page.click("#pay-button")
    await shopper.outcome("approved")

    assert (await browser_stack.status(cart))["status"] == "captured"
    charges = await browser_stack.sandbox_charges("USD")
    assert [(row["responseCode"], Decimal(row["amount"])) for row in charges] == [
        ("BNK_2011", Decimal("19.99")),
        ("GTW_1000", Decimal("19.99")),
    ]


async def test_pending_payment_is_resolved_by_polling(browser_stack: BrowserStack, shopper: Shopper) -> None:
    cart = await browser_stack.cart(amount=PENDING_AMOUNT)
    await _open_checkout(shopper, browser_stack.checkout_url(cart))

    await shopper.type_card(APPROVED_CARD)
    await shopper.page.click("#pay-button")
    pending = await shopper.outcome("pending")
    assert "still confirming" in pending

    await shopper.outcome("approved")
    assert (await browser_stack.status(cart))["status"] == "captured"
    status_polls = [sent for sent in shopper.service_requests if "/status?" in sent["url"]]
    assert len(status_polls) >= 2


async def test_service_unreachable_mid_payment_recovers_from_status(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    cart = await browser_stack.cart(amount="31.00")
    await _open_checkout(shopper, browser_stack.checkout_url(cart))
    delivered: list[int] = []

    async def lose_the_answer(route: Route) -> None:
        # The request reaches the service and is charged; the connection drops before the page hears back.
        answer = await route.fetch()
        delivered.append(answer.status)
        await route.abort("connectionreset")

    await shopper.page.route("**/api/v1/netvalve/payment", lose_the_answer)
    await shopper.type_card(APPROVED_CARD)
    await shopper.page.click("#pay-button")
    text = await shopper.outcome("approved")

    assert delivered == [200]
    assert "Payment approved" in text
    charges = [
        row for row in await browser_stack.sandbox_charges() if Decimal(row["amount"]) == Decimal("31.00")
    ]
    assert [row["responseCode"] for row in charges] == ["GTW_1000"]
    assert any("/status?" in sent["url"] for sent in shopper.service_requests)


async def _to_hosted_page(browser_stack: BrowserStack, shopper: Shopper, amount: str) -> None:
    await browser_stack.knobs(**SESSION_FAILS)
    cart = await browser_stack.cart(amount=amount)
    await shopper.page.goto(browser_stack.checkout_url(cart))
    await shopper.page.click("#hpp-continue")
    await shopper.page.wait_for_url(f"{browser_stack.sandbox_url}/checkout?*")
    await shopper.page.locator("#hpp-form").wait_for()
    assert amount in await shopper.page.inner_text("#amount")


async def _fill_hosted_page(shopper: Shopper, number: str) -> None:
    page = shopper.page
    await page.fill("#cardHolderName", "Ada Shopper")
    await page.fill("#cardNumber", number)
    await page.fill("#expiryMonth", "12")
    await page.fill("#expiryYear", "2030")
    await page.fill("#cvv", "999")


@pytest.mark.parametrize(
    ("card", "amount", "way", "outcome", "words", "response_code"),
    [
        (APPROVED_CARD, "44.00", "success", "approved", "Payment approved", "GTW_1000"),
        (DECLINED_CARD, "46.00", "failed", "declined", "did not go through", "BNK_2011"),
    ],
    ids=["success", "failure"],
)
async def test_hosted_page_way_back_shows_the_status(
    browser_stack: BrowserStack,
    shopper: Shopper,
    card: str,
    amount: str,
    way: str,
    outcome: str,
    words: str,
    response_code: str,
) -> None:
    await _to_hosted_page(browser_stack, shopper, amount)

    await _fill_hosted_page(shopper, card.replace(" ", ""))
    await shopper.page.click("button[value=pay]")
    await shopper.page.wait_for_url(f"{browser_stack.shop_url}/checkout/netvalve/{way}")
    text = await shopper.outcome(outcome)

    assert words in text
    charges = [row for row in await browser_stack.sandbox_charges() if row["amount"] == amount]
    assert [row["responseCode"] for row in charges] == [response_code]


async def test_hosted_page_cancel_comes_back_cancelled(browser_stack: BrowserStack, shopper: Shopper) -> None:
    await _to_hosted_page(browser_stack, shopper, "45.00")

    await shopper.page.click("button[value=cancel]")
    await shopper.page.wait_for_url(f"{browser_stack.shop_url}/checkout/netvalve/cancel")
    text = await shopper.outcome("cancelled")

    assert "Nothing was charged" in text
    assert await shopper.page.get_attribute("#back-to-checkout", "href") is not None
    assert [row for row in await browser_stack.sandbox_charges() if row["amount"] == "45.00"] == []


async def test_after_cancelling_the_hosted_page_the_shopper_pays_by_card(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    await _to_hosted_page(browser_stack, shopper, "47.00")
    await shopper.page.click("button[value=cancel]")
    await shopper.outcome("cancelled")
    await browser_stack.knobs()

    await shopper.page.click("#back-to-checkout")
    await shopper.page.locator("#pay-button:enabled").wait_for()
    await shopper.type_card(APPROVED_CARD)
    await shopper.page.click("#pay-button")
    await shopper.outcome("approved")

    charges = [row for row in await browser_stack.sandbox_charges() if row["amount"] == "47.00"]
    by_card = [("GTW_1000", "HOSTED_PAYMENT_FIELDS")]
    assert [(row["responseCode"], row["channel"]) for row in charges] == by_card


async def test_page_on_an_origin_not_in_store_cors_is_refused(
    browser_stack: BrowserStack, shopper: Shopper
) -> None:
    cart = await browser_stack.cart(amount="12.00")
    failed: list[str] = []
    shopper.page.on("requestfailed", lambda sent: failed.append(sent.url))

    await shopper.page.goto(browser_stack.checkout_url(cart, origin=browser_stack.foreign_shop_url))
    text = await shopper.outcome("error")

    assert "cannot reach the store" in text
    assert any("blocked by CORS policy" in line for line in shopper.console)
    assert any(url.endswith("/api/v1/netvalve/hpf/session") for url in failed)
    assert await shopper.page.locator("#payment-form").count() == 0
    assert (await browser_stack.status(cart))["error"]["code"] == "payment_not_found"
