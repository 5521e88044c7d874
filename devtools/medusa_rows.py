"""Insert realistic Medusa 2.21.2 rows for tests: Medusa-style ids, major-unit amounts with their exact
``raw_*`` JSON twins, and carts that reach their payment rows only through link tables."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection | PoolConnectionProxy

NETVALVE_PROVIDER_ID = "pp_netvalve_netvalve"
# The sales channel fixture carts belong to and fixture publishable keys are linked to.
WEBSHOP_SALES_CHANNEL = "sc_01JTESTWEBSHOP000000000000"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

LinkTable = Literal["cart_payment_collection", "order_cart", "order_payment_collection"]
_LINK_KEYS: dict[str, tuple[str, str]] = {
    "cart_payment_collection": ("cart_id", "payment_collection_id"),
    "order_cart": ("order_id", "cart_id"),
    "order_payment_collection": ("order_id", "payment_collection_id"),
}
_LINK_PREFIXES = {
    "cart_payment_collection": "capaycol",
    "order_cart": "ordercart",
    "order_payment_collection": "ordpay",
}


def new_id(prefix: str) -> str:
    """``{prefix}_{ULID}``: 48-bit millisecond time then 80 random bits, upper-case Crockford base32."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def raw_amount(amount: Decimal) -> str:
    """Medusa's ``raw_*`` twin as JSON text: the exact decimal string, trailing zeros trimmed."""
    value = format(amount.normalize(), "f") if amount else "0"
    return json.dumps({"value": value, "precision": 20})


@dataclass(frozen=True)
class CartRows:
    cart_id: str
    region_id: str
    currency_code: str
    customer_id: str | None
    billing_address_id: str | None
    shipping_address_id: str | None
    payment_collection_id: str | None
    cart_payment_collection_id: str | None
    payment_session_id: str | None
    order_id: str | None


@dataclass(frozen=True)
class OrderRows:
    order_id: str
    region_id: str
    currency_code: str
    customer_id: str | None
    billing_address_id: str | None
    shipping_address_id: str | None


@dataclass(frozen=True)
class CollectionRows:
    """A payment collection of an order that has no cart: an order edit's, a claim's or an exchange's."""

    payment_collection_id: str
    order_id: str
    link_id: str
    payment_session_id: str | None


async def ensure_currency(conn: Connection, code: str = "eur", *, decimal_digits: int = 2) -> None:
    await conn.execute(
        """
        INSERT INTO currency (code, symbol, symbol_native, decimal_digits, rounding, raw_rounding, name)
        VALUES ($1, $2, $2, $3, 0, $4::jsonb, $5)
        ON CONFLICT (code) DO NOTHING
        """,
        code,
        code.upper(),
        decimal_digits,
        raw_amount(Decimal(0)),
        code.upper(),
    )


async def ensure_payment_provider(conn: Connection, provider_id: str = NETVALVE_PROVIDER_ID) -> None:
    await conn.execute(
        "INSERT INTO payment_provider (id, is_enabled) VALUES ($1, true) ON CONFLICT (id) DO NOTHING",
        provider_id,
    )


async def create_region(conn: Connection, *, currency: str = "eur", name: str = "Europe") -> str:
    region_id = new_id("reg")
    await ensure_currency(conn, currency)
    await conn.execute(
        "INSERT INTO region (id, name, currency_code) VALUES ($1, $2, $3)", region_id, name, currency
    )
    return region_id


async def create_customer(
    conn: Connection,
    *,
    email: str = "buyer@example.com",
    first_name: str | None = "Ada",
    last_name: str | None = "Lovelace",
    phone: str | None = "+353861234567",
    has_account: bool = False,
) -> str:
    """A customer; like Medusa, a guest checking out again with the same email reuses the guest row."""
    existing = await conn.fetchval(
        "SELECT id FROM customer WHERE email = $1 AND has_account = $2 AND deleted_at IS NULL",
        email,
        has_account,
    )
    if existing is not None:
        return str(existing)
    customer_id = new_id("cus")
    await conn.execute(
        """
        INSERT INTO customer (id, first_name, last_name, email, phone, has_account)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        customer_id,
        first_name,
        last_name,
        email,
        phone,
        has_account,
    )
    return customer_id


async def create_address(
    conn: Connection,
    *,
    customer_id: str | None = None,
    first_name: str | None = "Ada",
    last_name: str | None = "Lovelace",
    company: str | None = None,
    address_1: str | None = "1 Grand Canal Street",
    address_2: str | None = None,
    city: str | None = "Dublin",
    province: str | None = None,
    postal_code: str | None = "D02 X285",
    country_code: str | None = "ie",
    phone: str | None = "+353861234567",
) -> str:
    address_id = new_id("caaddr")
    await conn.execute(
        """
        INSERT INTO cart_address (id, customer_id, company, first_name, last_name, address_1, address_2,
                                  city, country_code, province, postal_code, phone)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        """,
        address_id,
        customer_id,
        company,
        first_name,
        last_name,
        address_1,
        address_2,
        city,
        country_code,
        province,
        postal_code,
        phone,
    )
    return address_id


async def create_order_address(
    conn: Connection,
    *,
    customer_id: str | None = None,
    first_name: str | None = "Grace",
    last_name: str | None = "Hopper",
    address_1: str | None = "7 Merrion Square",
    city: str | None = "Dublin",
    postal_code: str | None = "D02 VR66",
    country_code: str | None = "ie",
    phone: str | None = "+353861230000",
) -> str:
    address_id = new_id("ordaddr")
    await conn.execute(
        """
        INSERT INTO order_address (id, customer_id, first_name, last_name, address_1, city, country_code,
                                   postal_code, phone)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        address_id,
        customer_id,
        first_name,
        last_name,
        address_1,
        city,
        country_code,
        postal_code,
        phone,
    )
    return address_id


async def create_payment_collection(
    conn: Connection,
    *,
    currency: str = "eur",
    amount: Decimal = Decimal("19.99"),
    numeric_amount: Decimal | None = None,
    status: str = "not_paid",
) -> str:
    """``numeric_amount`` lets the float-ish ``amount`` column differ from the exact ``raw_amount``."""
    collection_id = new_id("pay_col")
    await conn.execute(
        """
        INSERT INTO payment_collection (id, currency_code, amount, raw_amount, status)
        VALUES ($1, $2, $3, $4::jsonb, $5)
        """,
        collection_id,
        currency,
        amount if numeric_amount is None else numeric_amount,
        raw_amount(amount),
        status,
    )
    return collection_id


async def create_payment_session(
    conn: Connection,
    *,
    payment_collection_id: str,
    currency: str = "eur",
    amount: Decimal = Decimal("19.99"),
    numeric_amount: Decimal | None = None,
    provider_id: str = NETVALVE_PROVIDER_ID,
    status: str = "pending",
    data: dict[str, Any] | None = None,
    authorized_at: datetime | None = None,
    created_at: datetime | None = None,
    deleted: bool = False,
) -> str:
    session_id = new_id("payses")
    await ensure_payment_provider(conn, provider_id)
    await conn.execute(
        """
        INSERT INTO payment_session (id, currency_code, amount, raw_amount, provider_id, data, context,
                                     status, authorized_at, payment_collection_id, created_at, updated_at,
                                     deleted_at)
        VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7::jsonb, $8, $9, $10,
                COALESCE($11, now()), COALESCE($11, now()), CASE WHEN $12 THEN now() END)
        """,
        session_id,
        currency,
        amount if numeric_amount is None else numeric_amount,
        raw_amount(amount),
        provider_id,
        json.dumps(data if data is not None else {}),
        json.dumps({"customer": None}),
        status,
        authorized_at,
        payment_collection_id,
        created_at,
        deleted,
    )
    return session_id


async def create_payment(
    conn: Connection,
    *,
    payment_session_id: str,
    captured_at: datetime | None = None,
    canceled_at: datetime | None = None,
) -> str:
    """The payment Medusa creates from an authorized session, with the session's amount and currency."""
    payment_id = new_id("pay")
    await conn.execute(
        """
        INSERT INTO payment (id, amount, raw_amount, currency_code, provider_id, data, captured_at,
                             canceled_at, payment_collection_id, payment_session_id)
        SELECT $1, amount, raw_amount, currency_code, provider_id, data, $3, $4, payment_collection_id, id
        FROM payment_session WHERE id = $2
        """,
        payment_id,
        payment_session_id,
        captured_at,
        canceled_at,
    )
    return payment_id


async def create_capture(conn: Connection, *, payment_id: str, amount: Decimal) -> str:
    capture_id = new_id("capt")
    await conn.execute(
        "INSERT INTO capture (id, amount, raw_amount, payment_id) VALUES ($1, $2, $3::jsonb, $4)",
        capture_id,
        amount,
        raw_amount(amount),
        payment_id,
    )
    return capture_id


async def create_refund(
    conn: Connection, *, payment_id: str, amount: Decimal, note: str | None = None
) -> str:
    refund_id = new_id("ref")
    await conn.execute(
        "INSERT INTO refund (id, amount, raw_amount, payment_id, note) VALUES ($1, $2, $3::jsonb, $4, $5)",
        refund_id,
        amount,
        raw_amount(amount),
        payment_id,
        note,
    )
    return refund_id


async def create_link(
    conn: Connection, table: LinkTable, first_id: str, second_id: str, *, deleted: bool = False
) -> str:
    """A link row; the two ids follow the table's key order (e.g. cart_id, payment_collection_id)."""
    first, second = _LINK_KEYS[table]
    link_id = new_id(_LINK_PREFIXES[table])
    # Identifiers come from the fixed _LINK_KEYS table, never from the caller.
    await conn.execute(
        f"INSERT INTO {table} ({first}, {second}, id, deleted_at)"  # noqa: S608
        " VALUES ($1, $2, $3, CASE WHEN $4 THEN CURRENT_TIMESTAMP END)",
        first_id,
        second_id,
        link_id,
        deleted,
    )
    return link_id


async def soft_delete_link(conn: Connection, table: LinkTable, first_id: str, second_id: str) -> None:
    """Unlink the way Medusa's link service does: a soft delete."""
    first, second = _LINK_KEYS[table]
    await conn.execute(
        f"UPDATE {table} SET deleted_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP"  # noqa: S608
        f" WHERE {first} = $1 AND {second} = $2",
        first_id,
        second_id,
    )


async def create_cart(
    conn: Connection,
    *,
    currency: str = "eur",
    amount: Decimal = Decimal("19.99"),
    numeric_amount: Decimal | None = None,
    email: str | None = "buyer@example.com",
    with_collection: bool = True,
    with_session: bool = True,
    provider_id: str = NETVALVE_PROVIDER_ID,
    session_status: str = "pending",
    session_data: dict[str, Any] | None = None,
    collection_status: str = "not_paid",
    collection_link_deleted: bool = False,
    completed: bool = False,
    billing: bool = True,
    shipping: bool = True,
    customer: bool = True,
    sales_channel_id: str | None = WEBSHOP_SALES_CHANNEL,
) -> CartRows:
    """A storefront cart as Medusa leaves it once the payment collection and session are created."""
    region_id = await create_region(conn, currency=currency)
    customer_id = await create_customer(conn, email=email or "guest@example.com") if customer else None
    billing_id = await create_address(conn, customer_id=customer_id) if billing else None
    shipping_id = await create_address(conn, customer_id=customer_id) if shipping else None
    cart_id = new_id("cart")
    await conn.execute(
        """
        INSERT INTO cart (id, region_id, customer_id, email, currency_code, shipping_address_id,
                          billing_address_id, locale, sales_channel_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, 'en-IE', $8)
        """,
        cart_id,
        region_id,
        customer_id,
        email,
        currency,
        shipping_id,
        billing_id,
        sales_channel_id,
    )
    collection_id = link_id = session_id = None
    if with_collection:
        collection_id = await create_payment_collection(
            conn, currency=currency, amount=amount, numeric_amount=numeric_amount, status=collection_status
        )
        link_id = await create_link(
            conn, "cart_payment_collection", cart_id, collection_id, deleted=collection_link_deleted
        )
        if with_session:
            session_id = await create_payment_session(
                conn,
                payment_collection_id=collection_id,
                currency=currency,
                amount=amount,
                numeric_amount=numeric_amount,
                provider_id=provider_id,
                status=session_status,
                data=session_data,
            )
    order_id = await complete_cart(conn, cart_id) if completed else None
    return CartRows(
        cart_id=cart_id,
        region_id=region_id,
        currency_code=currency,
        customer_id=customer_id,
        billing_address_id=billing_id,
        shipping_address_id=shipping_id,
        payment_collection_id=collection_id,
        cart_payment_collection_id=link_id,
        payment_session_id=session_id,
        order_id=order_id,
    )


async def complete_cart(conn: Connection, cart_id: str) -> str:
    """Complete the cart the way Medusa's completeCartWorkflow leaves the rows: order, order_cart and
    order_payment_collection for the cart's live collection; returns the order id."""
    order_id = new_id("order")
    cart = await conn.fetchrow(
        "UPDATE cart SET completed_at = now(), updated_at = now() WHERE id = $1"
        " RETURNING region_id, customer_id, sales_channel_id, email, currency_code, locale",
        cart_id,
    )
    if cart is None:
        raise LookupError(f"no cart {cart_id}")
    await conn.execute(
        """
        INSERT INTO "order" (id, region_id, customer_id, sales_channel_id, status, email, currency_code,
                             locale)
        VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)
        """,
        order_id,
        cart["region_id"],
        cart["customer_id"],
        cart["sales_channel_id"],
        cart["email"],
        cart["currency_code"],
        cart["locale"],
    )
    await create_link(conn, "order_cart", order_id, cart_id)
    collections = await conn.fetch(
        "SELECT payment_collection_id FROM cart_payment_collection WHERE cart_id = $1 AND deleted_at IS NULL",
        cart_id,
    )
    for row in collections:
        await create_link(conn, "order_payment_collection", order_id, row["payment_collection_id"])
    return order_id


async def create_order(
    conn: Connection,
    *,
    currency: str = "eur",
    email: str | None = "buyer@example.com",
    status: str = "pending",
    billing: bool = True,
    shipping: bool = True,
    customer: bool = True,
    sales_channel_id: str | None = WEBSHOP_SALES_CHANNEL,
) -> OrderRows:
    """An order as Medusa keeps it after the checkout, with its own addresses (``order_address``)."""
    region_id = await create_region(conn, currency=currency)
    customer_id = await create_customer(conn, email=email or "guest@example.com") if customer else None
    billing_id = await create_order_address(conn, customer_id=customer_id) if billing else None
    shipping_id = await create_order_address(conn, customer_id=customer_id) if shipping else None
    order_id = new_id("order")
    await conn.execute(
        """
        INSERT INTO "order" (id, region_id, customer_id, sales_channel_id, status, email, currency_code,
                             billing_address_id, shipping_address_id, locale)
        VALUES ($1, $2, $3, $4, $5::order_status_enum, $6, $7, $8, $9, 'en-IE')
        """,
        order_id,
        region_id,
        customer_id,
        sales_channel_id,
        status,
        email,
        currency,
        billing_id,
        shipping_id,
    )
    return OrderRows(
        order_id=order_id,
        region_id=region_id,
        currency_code=currency,
        customer_id=customer_id,
        billing_address_id=billing_id,
        shipping_address_id=shipping_id,
    )


async def create_order_collection(
    conn: Connection,
    order_id: str,
    *,
    currency: str = "eur",
    amount: Decimal = Decimal("23.7881"),
    status: str = "not_paid",
    with_session: bool = True,
    provider_id: str = NETVALVE_PROVIDER_ID,
    link_deleted: bool = False,
) -> CollectionRows:
    """The collection Medusa 2.21.2 creates for an order's pending difference (an order edit, a claim or an
    exchange: ``createOrUpdateOrderPaymentCollectionWorkflow`` links each through
    ``order_payment_collection``), with the storefront's NetValve session on it."""
    collection_id = await create_payment_collection(conn, currency=currency, amount=amount, status=status)
    link_id = await create_link(
        conn, "order_payment_collection", order_id, collection_id, deleted=link_deleted
    )
    session_id = None
    if with_session:
        session_id = await create_payment_session(
            conn,
            payment_collection_id=collection_id,
            currency=currency,
            amount=amount,
            provider_id=provider_id,
        )
    return CollectionRows(
        payment_collection_id=collection_id, order_id=order_id, link_id=link_id, payment_session_id=session_id
    )


async def create_api_key(
    conn: Connection,
    *,
    key_type: Literal["publishable", "secret"] = "publishable",
    title: str = "Webshop",
    revoked_at: datetime | None = None,
    deleted: bool = False,
) -> str:
    """An api_key row; returns its stored ``token`` (for a publishable key, the key the storefront sends)."""
    if key_type == "publishable":
        token, salt = "pk_" + secrets.token_hex(32), ""
    else:
        # Medusa stores secret keys as a salted scrypt hash; any opaque hex stands in for it.
        token, salt = secrets.token_hex(64), secrets.token_hex(16)
    await conn.execute(
        """
        INSERT INTO api_key (id, token, salt, redacted, title, type, created_by, revoked_by, revoked_at,
                             deleted_at)
        VALUES ($1, $2, $3, $4, $5, $6, 'user_01JTESTADMIN0000000000000',
                CASE WHEN $7::timestamptz IS NOT NULL THEN 'user_01JTESTADMIN0000000000000' END, $7,
                CASE WHEN $8 THEN now() END)
        """,
        new_id("apk"),
        token,
        salt,
        f"{token[:6]}***{token[-3:]}",
        title,
        key_type,
        revoked_at,
        deleted,
    )
    return token


async def create_publishable_key(
    conn: Connection,
    *,
    title: str = "Webshop",
    revoked: bool = False,
    deleted: bool = False,
    sales_channel_ids: tuple[str, ...] = (WEBSHOP_SALES_CHANNEL,),
) -> str:
    """A publishable key's token (``pk_...``), linked to ``sales_channel_ids``; ``revoked`` revokes it a
    minute ago."""
    revoked_at = await conn.fetchval("SELECT now() - interval '1 minute'") if revoked else None
    token = await create_api_key(conn, title=title, revoked_at=revoked_at, deleted=deleted)
    for sales_channel_id in sales_channel_ids:
        await conn.execute(
            """
            INSERT INTO publishable_api_key_sales_channel (publishable_key_id, sales_channel_id, id)
            SELECT id, $2, $3 FROM api_key WHERE token = $1
            """,
            token,
            sales_channel_id,
            new_id("pksc"),
        )
    return token
