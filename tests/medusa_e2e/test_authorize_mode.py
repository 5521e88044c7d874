"""Authorize mode on a real Medusa: the order holds an authorization that Medusa's admin captures or voids,
and NetValve's own webhooks move Medusa's payment through the service's signed outbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.medusa_e2e.flows import E2E, ZERO, wait_until
from tests.medusa_e2e.medusa_api import Checkout, MedusaOrder, json_number
from tests.medusa_e2e.stack import MEDUSA_HOOK_SECRET

pytestmark = pytest.mark.medusa_e2e

SANDBOX_AUTH = {"netvalve-client-id": "sandbox-client", "netvalve-api-key": "sandbox-api-key"}
# What the provider logs when it turns a webhook down (medusa-payment-netvalve/src/service.ts).
PROVIDER_REJECTION = "NetValve webhook ignored"


@pytest.fixture(autouse=True)
def authorize_mode(e2e: E2E) -> None:
    e2e.stack.use_mode("authorize")


async def authorized_order(e2e: E2E) -> tuple[Checkout, MedusaOrder]:
    checkout = await e2e.shop.checkout(quantity=2)
    paid = await e2e.pay(checkout)
    assert paid["status"] == "authorized", paid
    order = await e2e.complete(checkout)
    assert order.payment.captured_at is None
    assert order.payment.canceled_at is None
    assert order.payment_status == "authorized"
    await e2e.assert_agree(checkout, order, captured=ZERO)
    sandbox = await e2e.sandbox((await e2e.status(checkout))["netvalve_transaction_id"])
    assert sandbox.kind == "AUTHORIZATION"
    return checkout, order


async def test_admin_capture_captures_at_the_service_and_the_sandbox(e2e: E2E) -> None:
    checkout, order = await authorized_order(e2e)

    response = await e2e.admin.capture(order.payment.id)
    assert response.status_code == 200, response.text
    order = await e2e.admin.order(order.id)
    assert order.payment.captured_at is not None
    assert order.payment_status == "captured"
    status = await e2e.status(checkout)
    assert status["status"] == "captured"
    await e2e.assert_agree(checkout, order, captured=checkout.total)


async def test_admin_order_cancel_voids_the_authorization_at_the_service_and_the_sandbox(e2e: E2E) -> None:
    checkout, order = await authorized_order(e2e)

    response = await e2e.admin.cancel_order(order.id)
    assert response.status_code == 200, response.text
    order = await e2e.admin.order(order.id)
    assert order.status == "canceled"
    assert order.payment.canceled_at is not None
    status = await e2e.status(checkout)
    assert status["status"] == "canceled"
    sandbox = await e2e.sandbox(status["netvalve_transaction_id"])
    assert sandbox.canceled == checkout.total == order.payment.amount
    await e2e.assert_agree(checkout, order, captured=ZERO)


async def test_netvalve_capture_webhook_moves_medusa_and_a_forged_signature_changes_nothing(e2e: E2E) -> None:
    checkout, order = await authorized_order(e2e)
    event = {
        "action": "captured",
        "data": {"session_id": checkout.payment_session_id, "amount": str(checkout.total)},
        "event_id": "nvwh_forged",
        "occurred_at": datetime.now(UTC).isoformat(),
    }

    rejections = e2e.medusa_log_count(PROVIDER_REJECTION)
    forged = await e2e.post_medusa_hook(event, secret="not-" + MEDUSA_HOOK_SECRET)
    assert forged.status_code == 200, forged.text  # Medusa acknowledges every hook and checks it later.

    async def provider_turned_it_down() -> bool:
        return e2e.medusa_log_count(PROVIDER_REJECTION) > rejections

    # Medusa handles a hook 5 s after acknowledging it; the provider's verdict is then in Medusa's log.
    await wait_until(provider_turned_it_down, "the provider checks the forged event")
    unchanged = await e2e.admin.order(order.id)
    assert unchanged.payment.captured_at is None
    assert (await e2e.status(checkout))["status"] == "authorized"
    await e2e.assert_agree(checkout, unchanged, captured=ZERO)

    # Captured in NetValve's back office: NetValve's webhook tells the service, its outbox tells Medusa.
    status = await e2e.status(checkout)
    captured = await e2e.nv.post(
        "/capture",
        json={"transactionID": status["netvalve_transaction_id"], "amount": json_number(checkout.total)},
        headers=SANDBOX_AUTH,
    )
    assert captured.status_code == 200, captured.text
    assert captured.json()["responseCode"] == "GTW_1000", captured.text

    async def medusa_captured() -> bool:
        return (await e2e.admin.order(order.id)).payment.captured_at is not None

    await wait_until(medusa_captured, "NetValve's CAPTURED webhook reaches Medusa's payment")
    order = await e2e.admin.order(order.id)
    assert order.payment_status == "captured"
    await e2e.assert_agree(checkout, order, captured=checkout.total)
