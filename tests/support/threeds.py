"""3-D Secure through the API (``NETVALVE_THREEDS=on``): the sandbox's 3DS test cards, a browser's data, and
the ``/payment`` that starts an authentication."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from devtools.medusa_rows import CartRows
from tests.support.stack import Stack

SHOP = "https://shop.test"
FRICTIONLESS_CARD = "4100000000000100"
CHALLENGE_CARD = "4100000000005000"
MASTERCARD_CHALLENGE = "5100000000005007"
CHALLENGE_FAILS_CARD = "4100000000300005"
DEVICE_DATA_CHALLENGE_CARD = "4100000000600008"
DEVICE_DATA_FRICTIONLESS_CARD = "4100000000700006"
AUTHENTICATION_FAILED_CARD = "4100000000500000"
PROVIDER_ERROR_CARD = "4100000000400003"
BROWSER = {
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
    "accept_header": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "language": "en-GB",
    "color_depth": 24,
    "screen_height": 1080,
    "screen_width": 1920,
    "time_zone": -60,
    "java_enabled": False,
}


async def pay(stack: Stack, cart: CartRows, token: str, **extra: Any) -> httpx.Response:
    return await stack.client.post(
        "/api/v1/netvalve/payment",
        json={"cart_id": cart.cart_id, "payment_token": token, "browser": BROWSER, **extra},
        headers=stack.storefront,
    )


async def sales(stack: Stack) -> list[dict[str, Any]]:
    return [t for t in await stack.sandbox_transactions() if t["type"] == "SALE"]


def page_token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def answer_challenge(stack: Stack, next_action: dict[str, Any], action: str) -> httpx.Response:
    """What the shopper's browser does on the challenge page: open it, press a button."""
    token = page_token(next_action["url"])
    page = await stack.nv.get("/3ds/challenge", params={"token": token})
    assert page.status_code == 200
    assert 'value="complete"' in page.text
    return await stack.nv.post(
        "/3ds/challenge",
        content=f"token={token}&action={action}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
