"""Read-only access to Medusa's own tables: every SQL statement the service runs against Medusa lives here.

Medusa links a cart to its payment rows only through link tables (``cart_payment_collection``,
``order_cart``), and an order to the collections of its later changes through ``order_payment_collection``,
which it soft-deletes on unlink, so every join filters ``deleted_at IS NULL``. Money is read
from the exact ``raw_amount->>'value'`` decimal string, never from the ``numeric`` twin that Medusa fills
from a JavaScript double.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from app.core.errors import MedusaBusy
from app.db.medusa import MedusaPool

# Every Medusa table the statements below read: the read-only role needs SELECT on these and nothing else
# (README, "Use it from Medusa"; a test checks the statements against this list).
TABLES_READ = (
    '"order"',
    "api_key",
    "cart",
    "cart_address",
    "cart_payment_collection",
    "customer",
    "order_address",
    "order_cart",
    "order_payment_collection",
    "payment_collection",
    "payment_session",
    "publishable_api_key_sales_channel",
)

_ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "province",
    "postal_code",
    "country_code",
    "phone",
)

# One round trip: cart, addresses, customer, then cart -> cart_payment_collection -> payment_collection ->
# payment_session and cart -> order_cart. `\_` because `_` is a LIKE wildcard.
_GET_CART = r"""
SELECT
    c.id,
    c.email,
    c.currency_code,
    c.region_id,
    c.customer_id,
    c.completed_at,
    c.sales_channel_id,
    ba.id AS ba_id,
    ba.first_name AS ba_first_name,
    ba.last_name AS ba_last_name,
    ba.company AS ba_company,
    ba.address_1 AS ba_address_1,
    ba.address_2 AS ba_address_2,
    ba.city AS ba_city,
    ba.province AS ba_province,
    ba.postal_code AS ba_postal_code,
    ba.country_code AS ba_country_code,
    ba.phone AS ba_phone,
    sa.id AS sa_id,
    sa.first_name AS sa_first_name,
    sa.last_name AS sa_last_name,
    sa.company AS sa_company,
    sa.address_1 AS sa_address_1,
    sa.address_2 AS sa_address_2,
    sa.city AS sa_city,
    sa.province AS sa_province,
    sa.postal_code AS sa_postal_code,
    sa.country_code AS sa_country_code,
    sa.phone AS sa_phone,
    cu.first_name AS customer_first_name,
    cu.last_name AS customer_last_name,
    cu.phone AS customer_phone,
    pc.id AS pc_id,
    pc.amount AS pc_amount,
    pc.status AS pc_status,
    ps.id AS ps_id,
    ps.payment_collection_id AS ps_payment_collection_id,
    ps.provider_id AS ps_provider_id,
    ps.amount AS ps_amount,
    ps.currency_code AS ps_currency_code,
    ps.status AS ps_status,
    ps.data AS ps_data,
    ps.authorized_at AS ps_authorized_at,
    oc.order_id
FROM cart c
LEFT JOIN cart_address ba ON ba.id = c.billing_address_id AND ba.deleted_at IS NULL
LEFT JOIN cart_address sa ON sa.id = c.shipping_address_id AND sa.deleted_at IS NULL
LEFT JOIN customer cu ON cu.id = c.customer_id AND cu.deleted_at IS NULL
LEFT JOIN LATERAL (
    SELECT
        pc.id,
        COALESCE(pc.raw_amount->>'value', pc.amount::text) AS amount,
        pc.status
    FROM cart_payment_collection cpc
    JOIN payment_collection pc ON pc.id = cpc.payment_collection_id AND pc.deleted_at IS NULL
    WHERE cpc.cart_id = c.id AND cpc.deleted_at IS NULL
    ORDER BY cpc.created_at DESC, pc.created_at DESC
    LIMIT 1
) pc ON TRUE
LEFT JOIN LATERAL (
    SELECT
        ps.id,
        ps.payment_collection_id,
        ps.provider_id,
        COALESCE(ps.raw_amount->>'value', ps.amount::text) AS amount,
        ps.currency_code,
        ps.status,
        ps.data::text AS data,
        ps.authorized_at
    FROM payment_session ps
    WHERE ps.payment_collection_id = pc.id
      AND ps.deleted_at IS NULL
      AND ps.provider_id LIKE 'pp\_netvalve%'
    ORDER BY ps.created_at DESC, ps.id DESC
    LIMIT 1
) ps ON TRUE
LEFT JOIN LATERAL (
    SELECT oc.order_id
    FROM order_cart oc
    WHERE oc.cart_id = c.id AND oc.deleted_at IS NULL
    ORDER BY oc.created_at DESC
    LIMIT 1
) oc ON TRUE
WHERE c.id = $1 AND c.deleted_at IS NULL
"""


# A payment collection of an order that no cart holds: Medusa 2.21.2 links the collections of order edits,
# claims and exchanges to their order through order_payment_collection (createOrUpdateOrderPaymentCollection
# Workflow; the claim and exchange link tables are defined but not registered, so no database has them). A
# collection a live cart still holds is the cart's to pay, through cart_id.
_GET_COLLECTION = r"""
SELECT
    pc.id,
    COALESCE(pc.raw_amount->>'value', pc.amount::text) AS amount,
    pc.currency_code,
    pc.status,
    o.id AS order_id,
    o.status::text AS order_status,
    o.email,
    o.region_id,
    o.customer_id,
    o.sales_channel_id,
ba.id AS ba_id,
    ba.first_name AS ba_first_name,
    ba.last_name AS ba_last_name,
    ba.company AS ba_company,
    ba.address_1 AS ba_address_1,
    ba.address_2 AS ba_address_2,
    ba.city AS ba_city,
    ba.province AS ba_province,
    ba.postal_code AS ba_postal_code,
    ba.country_code AS ba_country_code,
    ba.phone AS ba_phone,
    sa.id AS sa_id,
    sa.first_name AS sa_first_name,
    sa.last_name AS sa_last_name,
    sa.company AS sa_company,
    sa.address_1 AS sa_address_1,
    sa.address_2 AS sa_address_2,
    sa.city AS sa_city,
    sa.province AS sa_province,
    sa.postal_code AS sa_postal_code,
    sa.country_code AS sa_country_code,
    sa.phone AS sa_phone,
    cu.first_name AS customer_first_name,
    cu.last_name AS customer_last_name,
    cu.phone AS customer_phone,
    ps.id AS ps_id,
    ps.payment_collection_id AS ps_payment_collection_id,
    ps.provider_id AS ps_provider_id,
    ps.amount AS ps_amount,
    ps.currency_code AS ps_currency_code,
    ps.status AS ps_status,
    ps.data AS ps_data,
    ps.authorized_at AS ps_authorized_at
FROM payment_collection pc
JOIN LATERAL (
    SELECT opc.order_id
    FROM order_payment_collection opc
    WHERE opc.payment_collection_id = pc.id AND opc.deleted_at IS NULL
    ORDER BY opc.created_at DESC
    LIMIT 1
) link ON TRUE
JOIN "order" o ON o.id = link.order_id AND o.deleted_at IS NULL
LEFT JOIN order_address ba ON ba.id = o.billing_address_id AND ba.deleted_at IS NULL
LEFT JOIN order_address sa ON sa.id = o.shipping_address_id AND sa.deleted_at IS NULL
LEFT JOIN customer cu ON cu.id = o.customer_id AND cu.deleted_at IS NULL
LEFT JOIN LATERAL (
    SELECT
        ps.id,
        ps.payment_collection_id,
        ps.provider_id,
        COALESCE(ps.raw_amount->>'value', ps.amount::text) AS amount,
        ps.currency_code,
        ps.status,
        ps.data::text AS data,
        ps.authorized_at
    FROM payment_session ps
    WHERE ps.payment_collection_id = pc.id
      AND ps.deleted_at IS NULL
      AND ps.provider_id LIKE 'pp\_netvalve%'
    ORDER BY ps.created_at DESC, ps.id DESC
    LIMIT 1
) ps ON TRUE
WHERE pc.id = $1
  AND pc.deleted_at IS NULL
  AND NOT EXISTS (
      SELECT 1
      FROM cart_payment_collection cpc
      JOIN cart c ON c.id = cpc.cart_id AND c.deleted_at IS NULL
      WHERE cpc.payment_collection_id = pc.id AND cpc.deleted_at IS NULL
  )
"""

_GET_COLLECTION_SALES_CHANNEL = """
SELECT o.sales_channel_id
FROM order_payment_collection opc
JOIN "order" o ON o.id = opc.order_id AND o.deleted_at IS NULL
WHERE opc.payment_collection_id = $1 AND opc.deleted_at IS NULL
ORDER BY opc.created_at DESC
LIMIT 1
"""

_GET_CART_SALES_CHANNEL = "SELECT sales_channel_id FROM cart WHERE id = $1 AND deleted_at IS NULL"

_GET_PAYMENT_SESSION = """
SELECT
    ps.id,
    ps.payment_collection_id,
    ps.provider_id,
    COALESCE(ps.raw_amount->>'value', ps.amount::text) AS amount,
    ps.currency_code,
    ps.status,
    ps.data::text AS data,
    ps.authorized_at,
    link.cart_id
FROM payment_session ps
JOIN payment_collection pc ON pc.id = ps.payment_collection_id AND pc.deleted_at IS NULL
LEFT JOIN LATERAL (
    SELECT cpc.cart_id
    FROM cart_payment_collection cpc
    JOIN cart c ON c.id = cpc.cart_id AND c.deleted_at IS NULL
    WHERE cpc.payment_collection_id = ps.payment_collection_id AND cpc.deleted_at IS NULL
    ORDER BY cpc.created_at DESC
    LIMIT 1
) link ON TRUE
WHERE ps.id = $1 AND ps.deleted_at IS NULL
"""

# Medusa keeps a key with a future revoked_at working until then (revoke with `revoke_in`). The key's sales
# channels come along: a store route may only touch carts of one of them.
_GET_PUBLISHABLE_KEY = """
SELECT
    k.id,
    k.title,
    COALESCE(
        (
            SELECT array_agg(l.sales_channel_id ORDER BY l.sales_channel_id)
            FROM publishable_api_key_sales_channel l
            WHERE l.publishable_key_id = k.id AND l.deleted_at IS NULL
        ),
        '{}'
    ) AS sales_channel_ids
FROM api_key k
WHERE k.token = $1
  AND k.type = 'publishable'
  AND (k.revoked_at IS NULL OR k.revoked_at > now())
  AND k.deleted_at IS NULL
"""


@dataclass(frozen=True, slots=True)
class MedusaAddress:
    first_name: str | None
    last_name: str | None
    company: str | None
    address_1: str | None
    address_2: str | None
    city: str | None
    province: str | None
    postal_code: str | None
    country_code: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class MedusaPaymentSession:
    id: str
    payment_collection_id: str
    provider_id: str
    amount: Decimal
    currency_code: str
    status: str
    data: dict[str, Any]
    authorized_at: datetime | None
    cart_id: str | None


@dataclass(frozen=True, slots=True)
class MedusaCart:
    id: str
    email: str | None
    currency_code: str
    region_id: str | None
    customer_id: str | None
    completed_at: datetime | None
    sales_channel_id: str | None
    billing_address: MedusaAddress | None
    shipping_address: MedusaAddress | None
    customer_first_name: str | None
    customer_last_name: str | None
    customer_phone: str | None
    payment_collection_id: str | None
    payment_collection_amount: Decimal | None
    payment_collection_status: str | None
    payment_session: MedusaPaymentSession | None
    order_id: str | None

    @property
    def is_completed(self) -> bool:
        return self.completed_at is not None

    @property
    def amount_due(self) -> Decimal | None:
        """What the shopper pays: the live NetValve session's amount, else the payment collection's."""
        if self.payment_session is not None:
            return self.payment_session.amount
        return self.payment_collection_amount


@dataclass(frozen=True, slots=True)
class MedusaCollection:
    """A payment collection of an order that has no cart (an order edit's, a claim's or an exchange's), with
    what a payment needs of its order: the shopper, the addresses, the region and the sales channel. It
    answers the questions the payment services ask a ``MedusaCart``."""

    id: str
    email: str | None
    currency_code: str
    region_id: str | None
    customer_id: str | None
    sales_channel_id: str | None
    billing_address: MedusaAddress | None
    shipping_address: MedusaAddress | None
    customer_first_name: str | None
    customer_last_name: str | None
    customer_phone: str | None
    payment_collection_amount: Decimal
    payment_collection_status: str
    payment_session: MedusaPaymentSession | None
    order_id: str
    order_status: str

    @property
    def payment_collection_id(self) -> str:
        return self.id

    @property
    def is_completed(self) -> bool:
        """Never: a collection has no checkout to complete. Its own status says whether it is paid."""
        return False

    @property
    def amount_due(self) -> Decimal:
        """The collection's amount: Medusa updates it when the order's difference changes (an exchange's
        return received), and leaves the session with the amount it was made with."""
        return self.payment_collection_amount

    @property
    def session_is_stale(self) -> bool:
        """Whether the NetValve session was made for another amount than the collection now owes."""
        return self.payment_session is not None and self.payment_session.amount != self.amount_due


@dataclass(frozen=True, slots=True)
class PublishableKey:
    id: str
    title: str
    sales_channel_ids: frozenset[str] = frozenset()


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
    values = {field: row[f"{alias}_{field}"] for field in _ADDRESS_FIELDS}
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
            row = await conn.fetchrow(_GET_CART, cart_id)
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
        )

    async def get_collection(self, collection_id: str) -> MedusaCollection | None:
        """The payment collection with its order and live NetValve session; None if gone, if no order links
        it, or if a live cart holds it."""
        async with self._read_only() as conn:
            row = await conn.fetchrow(_GET_COLLECTION, collection_id)
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
            channel: str | None = await conn.fetchval(_GET_COLLECTION_SALES_CHANNEL, collection_id)
        return channel

    async def get_cart_sales_channel(self, cart_id: str) -> str | None:
        """The cart's sales channel; None when the cart has none or is gone."""
        async with self._read_only() as conn:
            channel: str | None = await conn.fetchval(_GET_CART_SALES_CHANNEL, cart_id)
        return channel

    async def get_payment_session(self, session_id: str) -> MedusaPaymentSession | None:
        """A live payment session of any provider, with the cart it belongs to (if still linked)."""
        async with self._read_only() as conn:
            row = await conn.fetchrow(_GET_PAYMENT_SESSION, session_id)
        if row is None:
            return None
        return _session(row, cart_id=row["cart_id"])

    async def get_publishable_key(self, token: str) -> PublishableKey | None:
        """The publishable key with this token if Medusa would accept it now, with its sales channels."""
        async with self._read_only() as conn:
            row = await conn.fetchrow(_GET_PUBLISHABLE_KEY, token)
        if row is None:
            return None
        return PublishableKey(
            id=row["id"], title=row["title"], sales_channel_ids=frozenset(row["sales_channel_ids"])
        )

    async def ping(self) -> None:
        async with self._read_only() as conn:
            await conn.fetchval("SELECT 1")
