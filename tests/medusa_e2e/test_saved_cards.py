"""Saved cards on a real Medusa: a signed-in customer pays a first cart saving the card (Medusa creates the
account holder through the provider), sees it masked in ``GET /store/payment-methods/{account_holder_id}``,
pays a second cart with it through Medusa's store API and the service, and the merchant later charges it for
an item an order edit added (the edit's payment collection, the customer absent). Every amount agrees to the
cent in Medusa, the service's ledger and the sandbox."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.medusa_e2e.flows import APPROVED_CARD, E2E, charged, wait_until
from tests.medusa_e2e.medusa_api import UNIT_PRICE, Storefront, body

pytestmark = pytest.mark.medusa_e2e


@pytest.fixture(autouse=True)
def sale_mode(e2e: E2E) -> None:
    e2e.stack.use_mode("sale")


@pytest.fixture
async def customer(e2e: E2E) -> AsyncIterator[Storefront]:
    email = f"saver-{uuid.uuid4().hex[:10]}@test.local"
    shop = await Storefront.signed_up(e2e.stack.medusa_url, e2e.catalog, email, "e2e-password-0123")
    try:
        yield shop
    finally:
        await shop.aclose()


def assert_masked(card: dict[str, object], number: str) -> None:
    """NetValve's masked number at most (first six, last four), never the number or a token."""
    assert card["last4"] == number[-4:], card
    masked = str(card["masked"])
    assert re.fullmatch(rf"{number[:6]}\*+{number[-4:]}", masked), card
    assert number not in str(card)
    assert not [key for key in card if "token" in key], card


async def test_a_signed_in_customer_saves_a_card_pays_again_with_it_and_the_merchant_charges_an_added_item(
    e2e: E2E, customer: Storefront
) -> None:
    assert customer.customer_id is not None
    # The first cart: the card typed into the hosted fields, saved with the customer's consent.
    first = await customer.checkout(quantity=1)
    assert first.account_holder_id is not None, "Medusa created no account holder through the provider"
    paid = await e2e.pay(first, save_card=True)
    assert paid["status"] == "captured", paid
    saved_card_id = paid["saved_card_id"]
    assert saved_card_id.startswith("nvcard_"), paid
    first_order = await e2e.complete(first, customer)
    await e2e.assert_agree(first, first_order, captured=first.total)

    # Medusa lists it through the provider, masked, to the signed-in customer only.
    listed = await customer.payment_methods(first.account_holder_id)
    assert listed.status_code == 200, listed.text
    [method] = body(listed)["payment_methods"]
    assert method["id"] == saved_card_id
    assert method["provider_id"] == "pp_netvalve_netvalve"
    assert_masked(method["data"], APPROVED_CARD)
    assert "token" not in listed.text.lower()
    anonymous = await e2e.shop.payment_methods(first.account_holder_id)
    assert anonymous.status_code == 401, anonymous.text

    # The second cart: its session reuses the customer's holder (Medusa issue #15593), paid with the card.
    second = await customer.checkout(quantity=2)
    assert second.account_holder_id == first.account_holder_id
    assert await e2e.account_holders_of(customer.customer_id) == [first.account_holder_id]
    answer = await e2e.pay_with_saved_card(second, saved_card_id)
    assert answer.status_code == 200, answer.text
    assert body(answer)["status"] == "captured", answer.text
    assert "token" not in answer.text.lower()
    second_order = await e2e.complete(second, customer)
    await e2e.assert_agree(second, second_order, captured=second.total)
    second_status = await e2e.status(second)
    assert second_status["netvalve_transaction_id"] != (await e2e.status(first))["netvalve_transaction_id"]

    # An order edit adds an item: the merchant charges the saved card for the edit's collection.
    await e2e.admin.edit_order(second_order.id)
    await e2e.admin.edit_add_item(second_order.id, e2e.catalog.variant_id)
    await e2e.admin.confirm_edit(second_order.id)
    summary = await e2e.admin.summary(second_order.id)
    assert summary.pending_difference == UNIT_PRICE, summary
    [due] = [c for c in await e2e.admin.collections(second_order.id) if c.status == "not_paid"]
    assert due.amount == UNIT_PRICE
    # The merchant's own session on the collection (Medusa's store route, as the payment link makes it).
    session_id = await e2e.shop.collection_session(due.id)
    charge = await e2e.merchant_charge(saved_card_id, due.id, f"mit-{due.id}")
    assert charge.status_code == 200, charge.text
    assert body(charge)["status"] == "captured", charge.text
    again = await e2e.merchant_charge(saved_card_id, due.id, f"mit-{due.id}")
    assert again.status_code == 200, again.text
    assert body(again) == body(charge)

    async def medusa_marks_it_paid() -> bool:
        [collection] = [c for c in await e2e.admin.collections(second_order.id) if c.id == due.id]
        summary = await e2e.admin.summary(second_order.id)
        return collection.status == "completed" and summary.pending_difference == 0

    await wait_until(medusa_marks_it_paid, "the outbox's captured reaches the edit's collection and order")
    [collection] = [c for c in await e2e.admin.collections(second_order.id) if c.id == due.id]
    status = await e2e.status_of_session(session_id)
    sandbox = await e2e.sandbox(status["netvalve_transaction_id"])
    assert collection.captured == UNIT_PRICE == Decimal(status["medusa_amount"])
    assert charged(UNIT_PRICE) == Decimal(status["captured_amount"]) == sandbox.captured == sandbox.amount
    assert sandbox.kind == "SALE"
    # One sale for the collection, the replay answered from the first.
    rows = body(await e2e.nv.get("/_sandbox/transactions"))
    prefix = f"{session_id}-"
    mit = [r for r in rows if (r["clientOrderId"] or "").startswith(prefix) and r["parentID"] is None]
    assert [r["transactionID"] for r in mit] == [status["netvalve_transaction_id"]]
    # As NetValve documents them: the saving sale the initial CIT, the second a CIT token sale, the
    # merchant's an MIT naming the initial sale.
    by_id = {r["transactionID"]: r for r in rows}
    initial = by_id[(await e2e.status(first))["netvalve_transaction_id"]]
    customer_present = by_id[second_status["netvalve_transaction_id"]]
    [merchant] = mit
    assert initial["paymentType"] == "CARD", initial
    assert customer_present["paymentType"] == merchant["paymentType"] == "TOKEN"
    assert customer_present["additionalData"]["credentialOnFileTransaction"] == "CIT", customer_present
    assert merchant["additionalData"]["recurringScheduleType"] == "MIT_UNSCHEDULED_COF", merchant
    assert str(merchant["additionalData"]["initialTransactionId"]) == str(initial["transactionID"]), merchant
