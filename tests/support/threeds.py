"""3-D Secure through the API (``NETVALVE_THREEDS=on``): the sandbox's 3DS test cards, a browser's data, and
the ``/payment`` that starts an authentication."""

from __future__ import annotations

from typing import Any

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
