"""Read-only access to Medusa's own tables: runs the statements of ``medusa_sql`` in read-only transactions
and turns their rows into the values of ``medusa_rows``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from app.core.errors import MedusaBusy
from app.db.medusa import MedusaPool
from app.repositories import medusa_sql as sql
from app.repositories.medusa_rows import (
    MedusaAddress,
    MedusaCart,
    MedusaCollection,
    MedusaCustomer,
    MedusaPaymentSession,
    MedusaRefund,
    PublishableKey,
)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


def _json_object(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


def _address(row: asyncpg.Record, alias: str) -> MedusaAddress | None:
    if row[f"{alias}_id"] is None:
        return None
    values = {field: row[f"{alias}_{field}"] for field in sql.ADDRESS_FIELDS}
    values["country_code"] = _upper(values["country_code"])
    return MedusaAddress(**values)


def _session(row: asyncpg.Record, prefix: str = "", cart_id: str | None = None) -> MedusaPaymentSession:
    return MedusaPaymentSession(
        id=row[f"{prefix}id"],
        payment_collection_id=row[f"{prefix}payment_collection_id"],
        provider_id=row[f"{prefix}provider_id"],
        amount=Decimal(row[f"{prefix}amount"]),
        currency_code=row[f"{prefix}currency_code"].upper(),
        status=row[f"{prefix}status"],
        data=_json_object(row[f"{prefix}data"]),
        authorized_at=row[f"{prefix}authorized_at"],
        cart_id=cart_id,
    )


class MedusaReader:
    """Reads carts, payment sessions and publishable keys from Medusa's database; never writes."""

    def __init__(self, pool: MedusaPool, acquire_timeout: float | None = None) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout

    @asynccontextmanager
    async def _read_only(self) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        # Waiting for a connection is bounded: a burst beyond the pool is answered, not queued without end.
        # Only the acquisition's timeout means busy; a query's own timeout is a TimeoutError too.
        try:
            conn = await self._pool.acquire(timeout=self._acquire_timeout)
        except TimeoutError:
            raise MedusaBusy() from None
        try:
            # Read-only even if the pool was created without default_transaction_read_only.
            async with conn.transaction(readonly=True):
                yield conn
        finally:
            await self._pool.release(conn)

    async def get_cart(self, cart_id: str) -> MedusaCart | None:
        """The cart with its payment collection, live NetValve session and order; None if gone."""
        async with self._read_only() as conn:
            row = await conn.fetchrow(sql.GET_CART, cart_id)
        if row is None:
            return None
        session = _session(row, "ps_", cart_id=row["id"]) if row["ps_id"] is not None else None
        return MedusaCart(
            id=row["id"],
            email=row["email"],
            currency_code=row["currency_code"].upper(),
            region_id=row["region_id"],
            customer_id=row["customer_id"],
            completed_at=row["completed_at"],
            sales_channel_id=row["sales_channel_id"],
            billing_address=_address(row, "ba"),
            shipping_address=_address(row, "sa"),
            customer_first_name=row["customer_first_name"],
            customer_last_name=row["customer_last_name"],
            customer_phone=row["customer_phone"],
            payment_collection_id=row["pc_id"],
            payment_collection_amount=_decimal(row["pc_amount"]),
            payment_collection_status=row["pc_status"],
            payment_session=session,
            order_id=row["order_id"],
            customer_has_account=row["customer_has_account"],
        )

    async def get_collection(self, collection_id: str) -> MedusaCollection | None:
        """The payment collection with its order and live NetValve session; None if gone, if no order links
        it, or if a live cart holds it."""
        async with self._read_only() as conn:
            row = await conn.fetchrow(sql.GET_COLLECTION, collection_id)
        if row is None:
            return None
        session = _session(row, "ps_") if row["ps_id"] is not None else None
        return MedusaCollection(
            id=row["id"],
            email=row["email"],
            currency_code=row["currency_code"].upper(),
            region_id=row["region_id"],
            customer_id=row["customer_id"],
            sales_channel_id=row["sales_channel_id"],
            billing_address=_address(row, "ba"),
            shipping_address=_address(row, "sa"),
            customer_first_name=row["customer_first_name"],
            customer_last_name=row["customer_last_name"],
            customer_phone=row["customer_phone"],
            payment_collection_amount=Decimal(row["amount"]),
            payment_collection_status=row["status"],
            payment_session=session,
            order_id=row["order_id"],
            order_status=row["order_status"],
        )

    async def get_collection_sales_channel(self, collection_id: str) -> str | None:
        """The sales channel of the order the collection belongs to; None when it has none or is gone."""
        async with self._read_only() as conn:
            channel: str | None = await conn.fetchval(sql.GET_COLLECTION_SALES_CHANNEL, collection_id)
        return channel

    async def get_cart_sales_channel(self, cart_id: str) -> str | None:
        """The cart's sales channel; None when the cart has none or is gone."""
        async with self._read_only() as conn:
            channel: str | None = await conn.fetchval(sql.GET_CART_SALES_CHANNEL, cart_id)
        return channel

    async def get_payment_session(self, session_id: str) -> MedusaPaymentSession | None:
        """A live payment session of any provider, with the cart it belongs to (if still linked)."""
        async with self._read_only() as conn:
            row = await conn.fetchrow(sql.GET_PAYMENT_SESSION, session_id)
        if row is None:
            return None
        return _session(row, cart_id=row["cart_id"])

    async def get_customer(self, customer_id: str) -> MedusaCustomer | None:
        """A live customer, with whether they registered."""
        async with self._read_only() as conn:
            row = await conn.fetchrow(sql.GET_CUSTOMER, customer_id)
        if row is None:
            return None
        return MedusaCustomer(id=row["id"], email=row["email"], has_account=row["has_account"])

    async def get_session_refunds(self, session_id: str) -> list[MedusaRefund]:
        """The refunds Medusa recorded on the payment it made from this session, oldest first."""
        async with self._read_only() as conn:
            rows = await conn.fetch(sql.GET_SESSION_REFUNDS, session_id)
        return [MedusaRefund(id=row["id"], amount=Decimal(row["amount"])) for row in rows]

    async def get_publishable_key(self, token: str) -> PublishableKey | None:
        """The publishable key with this token if Medusa would accept it now, with its sales channels."""
        async with self._read_only() as conn:
            row = await conn.fetchrow(sql.GET_PUBLISHABLE_KEY, token)
        if row is None:
            return None
        return PublishableKey(
            id=row["id"], title=row["title"], sales_channel_ids=frozenset(row["sales_channel_ids"])
        )

    async def ping(self) -> None:
        async with self._read_only() as conn:
            await conn.fetchval("SELECT 1")
