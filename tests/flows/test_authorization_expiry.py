"""Authorizations that lapse (netvalve-api.md §5.4: the issuer releases a hold after 5 to 30 days): the ledger
records when each was made, one near expiry is logged, counted and shown to the service key, an opt-in
setting captures or voids it then (through the call protocol, so Medusa hears it), and a capture NetValve
refuses because the authorization lapsed is a clear error and shows on the payment."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from app.models import Payment, WebhookOutbox
from app.runtime import check_authorizations
from devtools.medusa_rows import CartRows
from tests.support.stack import Stack, open_stack

API = "/api/v1/netvalve"
MEDUSA_URL = "http://medusa.test/hooks/payment/netvalve_netvalve"
DAY = 24 * 3600


async def _shop(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection, **overrides: Any
) -> AsyncIterator[Stack]:
    async for stack in open_stack(
        db,
        nv_http,
        medusa_conn,
        netvalve_capture_mode="authorize",
        medusa_webhook_url=MEDUSA_URL,
        **overrides,
    ):
        yield stack


@pytest.fixture
async def shop(db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection) -> AsyncIterator[Stack]:
    async for stack in _shop(db, nv_http, medusa_conn):
        yield stack


@pytest.fixture
async def capturing(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> AsyncIterator[Stack]:
    async for stack in _shop(db, nv_http, medusa_conn, authorization_near_expiry_action="capture"):
        yield stack


@pytest.fixture
async def voiding(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> AsyncIterator[Stack]:
    async for stack in _shop(db, nv_http, medusa_conn, authorization_near_expiry_action="void"):
        yield stack


async def _authorized(stack: Stack) -> CartRows:
    cart = await stack.cart()
    paid = await stack.pay(cart, await stack.token_for(cart))
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "authorized"
    return cart


async def _age(stack: Stack, cart: CartRows, days: float) -> None:
    """Move the authorization back in time, as if it had been made ``days`` ago."""
    async with stack.app.state.sessionmaker.begin() as db:
        payment = (await db.execute(select(Payment).where(Payment.cart_id == cart.cart_id))).scalar_one()
        assert payment.authorized_at is not None
        await db.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(authorized_at=payment.authorized_at - timedelta(days=days))
        )


async def _status(stack: Stack, cart: CartRows) -> dict[str, Any]:
    response = await stack.client.get(
        f"{API}/status", params={"cart_id": cart.cart_id}, headers=stack.service
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _outbox_actions(stack: Stack) -> list[str]:
    async with stack.app.state.sessionmaker() as db:
        rows = (await db.execute(select(WebhookOutbox).order_by(WebhookOutbox.id))).scalars()
        return [row.action for row in rows]


async def _sandbox_kinds(stack: Stack) -> list[tuple[str, str]]:
    return [(t["type"], t["responseCode"]) for t in await stack.sandbox_transactions()]


def _near_expiry_count(action: str) -> float:
    return REGISTRY.get_sample_value("netvalve_authorizations_near_expiry_total", {"action": action}) or 0.0


def _expired_count() -> float:
    return REGISTRY.get_sample_value("netvalve_authorizations_expired_total") or 0.0


async def test_the_ledger_records_when_an_authorization_was_made(shop: Stack) -> None:
    cart = await _authorized(shop)
    status = await _status(shop, cart)
    assert status["authorized_at"] is not None
    assert status["authorization_near_expiry"] is False
    assert status["authorization_expired"] is False
    storefront = await shop.client.get(
        f"{API}/status", params={"cart_id": cart.cart_id}, headers=shop.storefront
    )
    assert set(storefront.json()) == {"status", "source"}


async def test_an_authorization_near_expiry_is_logged_counted_and_reported_once(
    shop: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    young, old = await _authorized(shop), await _authorized(shop)
    await _age(shop, old, days=7.5)
    before = _near_expiry_count("none")
    with caplog.at_level(logging.WARNING):
        assert await check_authorizations(shop.app.state) == 1
    noticed = [r for r in caplog.records if r.getMessage() == "authorization near expiry"]
    assert len(noticed) == 1
    assert _near_expiry_count("none") == before + 1
    assert (await _status(shop, old))["authorization_near_expiry"] is True
    assert (await _status(shop, old))["status"] == "authorized"
    assert (await _status(shop, young))["authorization_near_expiry"] is False
    # Noticed once: a later pass neither logs nor counts it again, and nothing is sent to NetValve.
    caplog.clear()
    assert await check_authorizations(shop.app.state) == 0
    assert not [r for r in caplog.records if r.getMessage() == "authorization near expiry"]
    assert _near_expiry_count("none") == before + 1
    assert [kind for kind, _ in await _sandbox_kinds(shop)] == ["AUTHORIZATION", "AUTHORIZATION"]


async def test_opted_in_an_authorization_near_expiry_is_captured_once_and_medusa_hears_it(
    capturing: Stack,
) -> None:
    cart = await _authorized(capturing)
    await _age(capturing, cart, days=8)
    before = _near_expiry_count("capture")
    await check_authorizations(capturing.app.state)
    await check_authorizations(capturing.app.state)
    status = await _status(capturing, cart)
    assert status["status"] == "captured"
    assert status["captured_amount"] == status["authorized_amount"]
    assert await _sandbox_kinds(capturing) == [("AUTHORIZATION", "GTW_1000"), ("CAPTURE", "GTW_1000")]
    assert await _outbox_actions(capturing) == ["authorized", "captured"]
    assert _near_expiry_count("capture") == before + 1
    # Medusa's own capture afterwards (its capturePayment) is answered as done, with no second call.
    again = await capturing.client.post(
        f"{API}/capture", json={"payment_session_id": cart.payment_session_id}, headers=capturing.service
    )
    assert again.status_code == 200, again.text
    assert again.json()["already_done"] is True
    assert len(await _sandbox_kinds(capturing)) == 2


async def test_opted_in_an_authorization_near_expiry_is_voided_once_and_medusa_hears_it(
    voiding: Stack,
) -> None:
    cart, young = await _authorized(voiding), await _authorized(voiding)
    await _age(voiding, cart, days=8)
    await check_authorizations(voiding.app.state)
    await check_authorizations(voiding.app.state)
    assert (await _status(voiding, cart))["status"] == "canceled"
    assert (await _status(voiding, young))["status"] == "authorized"
    kinds = await _sandbox_kinds(voiding)
    assert kinds.count(("CANCEL", "GTW_1000")) == 1
    assert ("CAPTURE", "GTW_1000") not in kinds
    assert await _outbox_actions(voiding) == ["authorized", "authorized", "canceled"]
    # The hold is gone: the admin's capture is told so, and nothing is sent.
    capture = await voiding.client.post(
        f"{API}/capture", json={"payment_session_id": cart.payment_session_id}, headers=voiding.service
    )
    assert capture.status_code == 409, capture.text
    assert capture.json()["error"]["code"] == "authorization_expired"
    assert len(await _sandbox_kinds(voiding)) == len(kinds)


async def test_a_capture_refused_because_the_authorization_lapsed_is_a_clear_error_and_shows_on_the_payment(
    shop: Stack,
) -> None:
    cart = await _authorized(shop)
    # NetValve's clock runs 31 days ahead: the issuer has released the hold.
    moved = await shop.nv.put("/_sandbox/clock", json={"offset_seconds": 31 * DAY})
    assert moved.status_code == 200, moved.text
    before = _expired_count()
    capture = await shop.client.post(
        f"{API}/capture", json={"payment_session_id": cart.payment_session_id}, headers=shop.service
    )
    assert capture.status_code == 409, capture.text
    error = capture.json()["error"]
    assert error["code"] == "authorization_expired"
    assert error["details"]["response_code"] == "BNK_2001"
    assert _expired_count() == before + 1
    status = await _status(shop, cart)
    assert status["status"] == "canceled"
    assert status["authorization_expired"] is True
    assert status["captured_amount"] == "0.00"
    assert await _outbox_actions(shop) == ["authorized", "canceled"]
    # Asking again sends nothing more: the ledger knows.
    again = await shop.client.post(
        f"{API}/capture", json={"payment_session_id": cart.payment_session_id}, headers=shop.service
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "authorization_expired"
    assert await _sandbox_kinds(shop) == [("AUTHORIZATION", "GTW_1000"), ("CAPTURE", "BNK_2001")]
