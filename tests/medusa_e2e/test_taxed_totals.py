"""Carts with tax on a real Medusa: a 19 % tax region over tax-exclusive prices and a percentage promotion
give totals with more decimals than EUR has (19.99 + 5.00 shipping is 29.7381). The service charges them
rounded once, and Medusa's order, the service's ledger and the sandbox agree under that rule, to the cent,
through payment, capture and refunds in part and in full."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from tests.medusa_e2e.flows import E2E, ZERO, charged
from tests.medusa_e2e.medusa_api import Checkout, MedusaOrder, Storefront

pytestmark = pytest.mark.medusa_e2e

TAXED_COUNTRY = "fr"
PROMO_CODE = "TENOFF"


@dataclass
class TaxedShop:
    e2e: E2E
    shop: Storefront

    async def paid_order(self, checkout: Checkout, status: str) -> MedusaOrder:
        """Pay through the service with the storefront's key for this catalog, then complete the cart."""
        paid = await self.e2e.pay(checkout, key=self.shop.catalog.publishable_key)
        assert (paid["status"], Decimal(paid["amount"])) == (status, charged(checkout.total)), paid
        return await self.e2e.complete(checkout, self.shop)


@pytest.fixture(scope="module")
async def taxed(e2e: E2E) -> AsyncIterator[TaxedShop]:
    catalog = await e2e.admin.seed(
        "tax", country=TAXED_COUNTRY, unit_price=Decimal("19.99"), shipping_price=Decimal("5.00")
    )
    await e2e.admin.tax_region(TAXED_COUNTRY, Decimal(19))
    await e2e.admin.percentage_promotion(PROMO_CODE, Decimal(10))
    shop = Storefront(e2e.stack.medusa_url, catalog)
    try:
        yield TaxedShop(e2e, shop)
    finally:
        await shop.aclose()


async def test_a_taxed_sale_is_charged_rounded_and_refunds_in_part_and_in_full_agree(
    taxed: TaxedShop,
) -> None:
    e2e = taxed.e2e
    e2e.stack.use_mode("sale")
    checkout = await taxed.shop.checkout(quantity=1)
    # Medusa's own total, as measured on 2.21.2: (19.99 + 5.00) x 1.19.
    assert checkout.total == Decimal("29.7381")

    order = await taxed.paid_order(checkout, "captured")

    assert order.total == Decimal("29.7381")
    assert order.payment_status == "captured"
    await e2e.assert_agree(checkout, order, captured=checkout.total)
    status = await e2e.status(checkout)
    assert (Decimal(status["amount"]), Decimal(status["medusa_amount"])) == (Decimal("29.74"), checkout.total)

    first = Decimal("10.00")
    assert (await e2e.admin.refund(order.payment.id, first)).status_code == 200
    order = await e2e.admin.order(order.id)
    assert order.payment_status == "partially_refunded"
    await e2e.assert_agree(checkout, order, captured=checkout.total, refunded=first)

    # The rest, as Medusa's admin offers it: its own exact remainder.
    rest = checkout.total - first
    response = await e2e.admin.refund(order.payment.id, rest)
    assert response.status_code == 200, response.text
    order = await e2e.admin.order(order.id)
    assert order.payment_status == "refunded"
    assert order.payment.refunded == order.payment.captured == checkout.total
    await e2e.assert_agree(checkout, order, captured=checkout.total, refunded=checkout.total)
    sandbox = await e2e.sandbox(status["netvalve_transaction_id"])
    assert sandbox.refunds == [Decimal("10.00"), Decimal("19.74")]
    assert sandbox.refunded == sandbox.captured == Decimal("29.74")


async def test_a_promoted_taxed_authorization_is_captured_in_full_and_three_refunds_add_up(
    taxed: TaxedShop,
) -> None:
    e2e = taxed.e2e
    e2e.stack.use_mode("authorize")
    checkout = await taxed.shop.checkout(quantity=1, promo_code=PROMO_CODE)
    # 10 % off 19.99 is 17.991; with 5.00 shipping and 19 % tax Medusa keeps five decimals.
    assert checkout.total == Decimal("27.35929")
    assert charged(checkout.total) == Decimal("27.36")

    order = await taxed.paid_order(checkout, "authorized")
    assert order.payment_status == "authorized"
    await e2e.assert_agree(checkout, order, captured=ZERO)

    response = await e2e.admin.capture(order.payment.id)
    assert response.status_code == 200, response.text
    order = await e2e.admin.order(order.id)
    assert order.payment_status == "captured"
    await e2e.assert_agree(checkout, order, captured=checkout.total)

    third = (checkout.total / 3).quantize(Decimal("0.0001"))
    parts = [third, third, checkout.total - 2 * third]
    refunded = ZERO
    for part in parts:
        response = await e2e.admin.refund(order.payment.id, part)
        assert response.status_code == 200, response.text
        refunded += part
        order = await e2e.admin.order(order.id)
        await e2e.assert_agree(checkout, order, captured=checkout.total, refunded=refunded)

    assert order.payment_status == "refunded"
    status = await e2e.status(checkout)
    sandbox = await e2e.sandbox(status["netvalve_transaction_id"])
    # Rounded one by one the thirds (9.1198, 9.1198, 9.1197) would refund 27.36 as well; what matters is that
    # each refund is its own amount to within a cent and their sum is exactly what NetValve captured.
    assert sum(sandbox.refunds, ZERO) == sandbox.captured == Decimal("27.36")
    assert all(abs(r - p) < Decimal("0.01") for r, p in zip(sandbox.refunds, parts, strict=True))
