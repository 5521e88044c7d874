"""The demo storefront (``devtools/storefront/``): a checkout page on its own origin, as a Medusa storefront
would be, calling the payment service from the browser with the publishable key.

Routes: ``/`` the checkout (``?cart_id=...``), ``/payment-collection/{id}`` the page Medusa's admin links to
for an order's payment collection ("copy payment link", with ``?order_id=...``),
``/checkout/netvalve/{success,cancel,failed,pending}`` the way back from NetValve's hosted page
(``NETVALVE_RETURN_BASE_URL`` is this server's URL), ``/config.json`` the service URL and publishable key,
``/assets/*`` the page's files."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

PAGES = Path(__file__).resolve().parent / "storefront"
RETURN_WAYS = frozenset({"success", "cancel", "failed", "pending"})
NO_STORE = {"Cache-Control": "no-store"}


def create_storefront(service_url: str, publishable_key: str) -> Starlette:
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

    return Starlette(
        routes=[
            Route("/", checkout),
            Route("/payment-collection/{collection_id}", payment_link),
            Route("/checkout/netvalve/{way}", way_back),
            Route("/config.json", configuration),
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
    args = parser.parse_args(argv)
    app = create_storefront(args.service_url, args.publishable_key)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
