"""The HPF session waterfall (``services.checkout``), step by step."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import EUR_MID, USD_MID
from tests.support.stack import Stack, open_stack


async def _session(stack: Stack, cart_id: str) -> httpx.Response:
    return await stack.client.post(
        "/api/v1/netvalve/hpf/session", json={"cart_id": cart_id}, headers=stack.storefront
    )


async def _stack(db: str, nv: httpx.AsyncClient, conn: asyncpg.Connection, **overrides: Any) -> Any:
    return open_stack(db, nv, conn, **overrides)


async def test_initialize_session_step_records_the_token_and_answers_hpf(stack: Stack) -> None:
    cart = await stack.cart(currency="eur", amount=Decimal("42.50"))
    response = await _session(stack, cart.cart_id)
    body = response.json()
    assert response.status_code == 200, response.text
    assert body["flow"] == "hpf"
    assert body["currency_code"] == "EUR"
    assert Decimal(str(body["amount"])) == Decimal("42.50")
    assert body["hpf"]["payment_token"]
    assert body["hpf"]["script_src"].startswith("http")
    assert body["payment_session_patch"]["hpf_payment_token"] == body["hpf"]["payment_token"]
    assert "diagnostic" not in body


async def test_each_currency_is_charged_on_its_own_mid(stack: Stack) -> None:
    for currency, mid in (("eur", EUR_MID), ("usd", USD_MID)):
        cart = await stack.cart(currency=currency)
        assert (await _session(stack, cart.cart_id)).status_code == 200
        paid = await stack.pay(cart, await stack.token_for(cart))
        assert paid.status_code == 200, paid.text
        sale = [t for t in await stack.sandbox_transactions() if t["type"] == "SALE"][-1]
        assert sale["routing"]["netvalveMidId"] == mid
        assert sale["routing"]["identifiers"] == ["netvalveMidId"]
        assert sale["currency"] == currency.upper()


async def test_currency_without_mid_or_site_is_422(stack: Stack) -> None:
    cart = await stack.cart(currency="gbp")
    response = await _session(stack, cart.cart_id)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "currency_not_configured"


async def test_unknown_and_completed_carts(stack: Stack) -> None:
    unknown = await _session(stack, "cart_01UNKNOWN000000000000000000")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "cart_not_found"
    cart = await stack.cart(completed=True)
    completed = await _session(stack, cart.cart_id)
    assert completed.status_code == 409
    assert completed.json()["error"]["code"] == "cart_completed"


async def test_get_takes_the_same_fields_as_query_parameters(stack: Stack) -> None:
    cart = await stack.cart()
    response = await stack.client.get(
        "/api/v1/netvalve/hpf/session", params={"cart_id": cart.cart_id}, headers=stack.storefront
    )
    assert response.status_code == 200
    assert response.json()["flow"] == "hpf"


async def test_direct_hpp_url_wins(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(
        db, nv_http, medusa_conn, netvalve_hpp_direct_url="https://pay.example.com/x"
    ):
        cart = await stack.cart()
        body = (await _session(stack, cart.cart_id)).json()
        assert body["flow"] == "hpp"
        assert body["hpp"]["redirect_url"] == "https://pay.example.com/x"


async def test_static_script_comes_second(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection
) -> None:
    async for stack in open_stack(
        db,
        nv_http,
        medusa_conn,
        netvalve_hpf_script_src="https://cdn.example.com/sdk.js",
        netvalve_hpf_script_integrity="sha384-abc",
    ):
        cart = await stack.cart()
        body = (await _session(stack, cart.cart_id)).json()
        assert body["hpf"] == {
            "script_src": "https://cdn.example.com/sdk.js",
            "integrity": "sha384-abc",
            "version": None,
            "payment_token": None,
            "jwt_token": None,
            "jwt_expires_at": None,
            "trace_id": None,
        }


async def test_backoffice_script_when_initialize_fails(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    async for stack in open_stack(
        db,
        nv_http,
        medusa_conn,
        netvalve_basic_auth_username="sandbox-backoffice",
        netvalve_basic_auth_password="sandbox-backoffice-password",
        netvalve_max_retries=0,
    ):
        await stack.knobs(fault="html502", fault_paths=["/hpf/initializeSession"])
        cart = await stack.cart()
        # The app's logging setup replaced the root logger's handlers, caplog's among them.
        logging.getLogger().addHandler(caplog.handler)
        with caplog.at_level(logging.WARNING):
            response = await _session(stack, cart.cart_id)
        body = response.json()
        assert response.status_code == 200, response.text
        assert body["flow"] == "hpf"
        assert body["hpf"]["payment_token"] is None
        [logged] = [r for r in caplog.records if r.__dict__.get("diagnostic")]
        assert logged.diagnostic[-1]["step"] == "initialize_session", logged.diagnostic


async def test_hpp_order_then_fallback_script_then_502(
    db: str, nv_http: httpx.AsyncClient, medusa_conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    async for stack in open_stack(
        db, nv_http, medusa_conn, netvalve_return_base_url="https://shop.example.com", netvalve_max_retries=0
    ):
        await stack.knobs(fault="html502", fault_paths=["/hpf/initializeSession"])
        cart = await stack.cart()
        body = (await _session(stack, cart.cart_id)).json()
        assert body["flow"] == "hpp"
        assert "/checkout" in body["hpp"]["redirect_url"]

        await stack.knobs(fault="html502", fault_paths=["/hpf/initializeSession", "/hpp/order"])
        fallback = (await _session(stack, cart.cart_id)).json()
        assert fallback["flow"] == "hpf"
        assert fallback["hpf"]["script_src"].startswith("https://tokenfield.uat.sandbox-netvalve.com")

    async for stack in open_stack(
        db,
        nv_http,
        medusa_conn,
        netvalve_environment="production",
        netvalve_max_retries=0,
        netvalve_hpp_fallback_enabled=False,
    ):
        await stack.knobs(fault="html502", fault_paths=["/hpf/initializeSession"])
        cart = await stack.cart()
        logging.getLogger().addHandler(caplog.handler)
        with caplog.at_level(logging.ERROR):
            failed = await _session(stack, cart.cart_id)
        assert failed.status_code == 502
        error = failed.json()["error"]
        assert error["code"] == "hpf_session_unavailable"
        [logged] = [r for r in caplog.records if r.__dict__.get("diagnostic")]
        assert [s["step"] for s in logged.diagnostic][-2:] == ["hpp_order", "fallback_script"]
