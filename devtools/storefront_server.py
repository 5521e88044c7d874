"""The demo storefront (``devtools/storefront/``): a checkout page on its own origin, as a Medusa storefront
would be, calling the payment service from the browser with the publishable key.

Routes: ``/`` the checkout (``?cart_id=...``), ``/payment-collection/{id}`` the page Medusa's admin links to
for an order's payment collection ("copy payment link", with ``?order_id=...``),
``/checkout/netvalve/{success,cancel,failed,pending}`` the way back from NetValve's hosted page
(``NETVALVE_RETURN_BASE_URL`` is this server's URL), ``/config.json`` the service URL and publishable key,
``/assets/*`` the page's files.

The signed-in customer's saved cards: ``POST /account/sign-in`` ``{"customer_id"}`` and ``POST
/account/sign-out`` stand in for Medusa's customer authentication (a demo: no password, the Medusa customer
id in an HttpOnly cookie), and ``/account.json`` answers who is signed in and their saved cards, masked, as
Medusa's ``GET /store/payment-methods/{account_holder_id}`` would. Like Medusa, this server holds the
service key (``--service-key``) and asks the service's account-holder routes; the browser never sees the
key, and without one every shopper is a guest."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

PAGES = Path(__file__).resolve().parent / "storefront"
RETURN_WAYS = frozenset({"success", "cancel", "failed", "pending"})
NO_STORE = {"Cache-Control": "no-store"}
CUSTOMER_COOKIE = "netvalve-demo-customer"
CUSTOMER_ID = re.compile(r"^cus_[A-Za-z0-9]{1,64}$")
# What the page shows of a saved card: the service's masked fields, nothing else it may answer.
CARD_FIELDS = ("id", "brand", "last4", "masked", "expiry_month", "expiry_year", "expired")
GUEST: dict[str, Any] = {"signed_in": False, "cards": []}


async def _saved_cards(service_url: str, service_key: str, customer_id: str) -> dict[str, Any]:
    """The customer's holder at the service (created or found: one per customer) and its cards; a guest when
    the service keeps no holder for the customer (no account, saved cards off)."""
    async with httpx.AsyncClient(
        base_url=f"{service_url}/api/v1/netvalve",
        headers={"Authorization": f"Bearer {service_key}"},
        timeout=10,
    ) as service:
        holder = await service.post("/account-holders", json={"customer_id": customer_id})
        if holder.status_code != 200:
            return GUEST
        holder_id = holder.json()["id"]
        cards = await service.get(f"/account-holders/{holder_id}/cards")
        cards.raise_for_status()
    return {
        "signed_in": True,
        "customer_id": customer_id,
        "email": holder.json().get("email"),
        "cards": [{name: card.get(name) for name in CARD_FIELDS} for card in cards.json()["cards"]],
    }


def create_storefront(service_url: str, publishable_key: str, service_key: str | None = None) -> Starlette:
    config = {"serviceUrl": service_url.rstrip("/"), "publishableKey": publishable_key}

    async def checkout(_: Request) -> Response:
        return FileResponse(PAGES / "index.html", headers=NO_STORE)

    async def payment_link(_: Request) -> Response:
        return FileResponse(PAGES / "payment-link.html", headers=NO_STORE)

    async def way_back(request: Request) -> Response:
        if request.path_params["way"] not in RETURN_WAYS:
            return Response("Not found", status_code=404)
        return FileResponse(PAGES / "return.html", headers=NO_STORE)

    async def configuration(_: Request) -> Response:
        return JSONResponse(config, headers=NO_STORE)

    async def account(request: Request) -> Response:
        customer_id = request.cookies.get(CUSTOMER_COOKIE, "")
        if service_key is None or not CUSTOMER_ID.match(customer_id):
            return JSONResponse(GUEST, headers=NO_STORE)
        answer = await _saved_cards(config["serviceUrl"], service_key, customer_id)
        return JSONResponse(answer, headers=NO_STORE)

    async def sign_in(request: Request) -> Response:
        customer_id = str((await request.json()).get("customer_id", ""))
        if not CUSTOMER_ID.match(customer_id):
            return JSONResponse({"error": "invalid_customer_id"}, status_code=422)
        response = JSONResponse({"signed_in": True}, headers=NO_STORE)
        response.set_cookie(CUSTOMER_COOKIE, customer_id, httponly=True, samesite="strict")
        return response

    async def sign_out(_: Request) -> Response:
        response = JSONResponse({"signed_in": False}, headers=NO_STORE)
        response.delete_cookie(CUSTOMER_COOKIE)
        return response

    return Starlette(
        routes=[
            Route("/", checkout),
            Route("/payment-collection/{collection_id}", payment_link),
            Route("/checkout/netvalve/{way}", way_back),
            Route("/config.json", configuration),
            Route("/account.json", account),
            Route("/account/sign-in", sign_in, methods=["POST"]),
            Route("/account/sign-out", sign_out, methods=["POST"]),
            Mount("/assets", StaticFiles(directory=PAGES)),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--service-url", required=True)
    parser.add_argument("--publishable-key", required=True)
    parser.add_argument(
        "--service-key",
        default=os.environ.get("STOREFRONT_SERVICE_KEY"),
        help="a service key, for the signed-in customer's saved cards (default: $STOREFRONT_SERVICE_KEY)",
    )
    args = parser.parse_args(argv)
    app = create_storefront(args.service_url, args.publishable_key, args.service_key)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
