"""Our Medusa fixture schema against the real Medusa 2.21.2 dump: the same columns and constraints, and
every MedusaReader query working on the real schema, so drift between the two fails here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.core.config import load_settings
from app.db.medusa import create_medusa_pool
from app.repositories.medusa import MedusaReader
from devtools.medusa_rows import (
    create_api_key,
    create_cart,
    create_order,
    create_order_collection,
    create_payment_session,
    create_publishable_key,
    soft_delete_link,
)
from tests.conftest import MEDUSA_FIXTURE_SCHEMA, recreate_database

REFERENCE_SCHEMA = Path(__file__).resolve().parents[2].parent / "shared" / "medusa" / "schema-2.21.2.sql"
REFERENCE_DATABASE = "medusa_reference_2_21_2"
FIXTURE_TABLES = sorted(
    name.strip('"')
    for name in re.findall(r"^CREATE TABLE (\w+|\"\w+\")", MEDUSA_FIXTURE_SCHEMA.read_text(), re.MULTILINE)
)


def executable_dump(text: str) -> str:
    """The dump minus psql meta-commands (``\\restrict`` and friends), which the server cannot run."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("\\"))


@pytest.fixture(scope="module")
async def reference_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    if not REFERENCE_SCHEMA.exists():
        pytest.skip("reference schema not present")
    dsn = await recreate_database(pg_admin_dsn, REFERENCE_DATABASE)
    # The dump empties search_path for its session; a dedicated connection keeps that from leaking.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(executable_dump(REFERENCE_SCHEMA.read_text()))
    finally:
        await conn.close()
    yield dsn
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{REFERENCE_DATABASE}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def reference_reader(reference_dsn: str) -> AsyncIterator[MedusaReader]:
    settings = load_settings(app_env="test", database_url=reference_dsn, medusa_database_url=reference_dsn)
    pool = await create_medusa_pool(settings)
    try:
        yield MedusaReader(pool)
    finally:
        await pool.close()


@pytest.fixture
async def reference_conn(reference_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(reference_dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def _catalog(dsn: str, query: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(query, FIXTURE_TABLES)
    finally:
        await conn.close()
    by_table: dict[str, list[tuple[Any, ...]]] = {name: [] for name in FIXTURE_TABLES}
    for row in rows:
        by_table[row[0]].append(tuple(row[1:]))
    return by_table


COLUMNS = """
SELECT table_name::text, column_name::text, data_type::text, udt_name::text, character_maximum_length,
       is_nullable::text, column_default::text
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = ANY($1::text[])
ORDER BY table_name, ordinal_position
"""

CONSTRAINTS = """
SELECT rel.relname::text, con.conname::text, con.contype::text, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid
JOIN pg_namespace ns ON ns.oid = rel.relnamespace
LEFT JOIN pg_class ref ON ref.oid = con.confrelid
WHERE ns.nspname = 'public'
  AND rel.relname = ANY($1::text[])
  AND con.contype IN ('p', 'c', 'f', 'u')
  AND (ref.oid IS NULL OR ref.relname = ANY($1::text[]))
ORDER BY rel.relname, con.conname
"""

INDEXES = """
SELECT tablename::text, indexname::text, indexdef
FROM pg_indexes
WHERE schemaname = 'public' AND tablename = ANY($1::text[])
ORDER BY tablename, indexname
"""


def test_fixture_declares_the_tables_the_reader_needs() -> None:
    assert {
        "api_key",
        "cart",
        "cart_address",
        "cart_payment_collection",
        "customer",
        "order",
        "order_address",
        "order_cart",
        "order_payment_collection",
        "payment_collection",
        "payment_session",
    } <= set(FIXTURE_TABLES)


async def test_fixture_columns_match_the_reference(reference_dsn: str, database_dsn: str) -> None:
    ours = await _catalog(database_dsn, COLUMNS)
    reference = await _catalog(reference_dsn, COLUMNS)

    for table in FIXTURE_TABLES:
        assert ours[table], f"{table} missing from our fixture database"
        assert ours[table] == reference[table], table


async def test_fixture_keys_checks_and_foreign_keys_match_the_reference(
    reference_dsn: str, database_dsn: str
) -> None:
    ours = await _catalog(database_dsn, CONSTRAINTS)
    reference = await _catalog(reference_dsn, CONSTRAINTS)

    for table in FIXTURE_TABLES:
        assert ours[table] == reference[table], table


async def test_every_fixture_index_exists_in_the_reference(reference_dsn: str, database_dsn: str) -> None:
    ours = await _catalog(database_dsn, INDEXES)
    reference = await _catalog(reference_dsn, INDEXES)

    for table in FIXTURE_TABLES:
        assert set(ours[table]) <= set(reference[table]), table


async def test_get_cart_on_the_reference_schema(
    reference_reader: MedusaReader, reference_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(
        reference_conn,
        currency="eur",
        amount=Decimal("19.99"),
        numeric_amount=Decimal("19.98"),
        session_data={"k": "v"},
    )
    assert rows.payment_collection_id is not None
    older = datetime.now(UTC) - timedelta(hours=1)
    await create_payment_session(
        reference_conn, payment_collection_id=rows.payment_collection_id, created_at=older
    )
    await create_payment_session(
        reference_conn, payment_collection_id=rows.payment_collection_id, provider_id="pp_stripe_stripe"
    )

    cart = await reference_reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.currency_code == "EUR"
    assert cart.email == "buyer@example.com"
    assert cart.billing_address is not None
    assert cart.billing_address.country_code == "IE"
    assert cart.shipping_address is not None
    assert cart.customer_first_name == "Ada"
    assert cart.payment_collection_id == rows.payment_collection_id
    assert cart.payment_collection_amount == Decimal("19.99")
    assert cart.payment_collection_status == "not_paid"
    assert cart.payment_session is not None
    assert cart.payment_session.id == rows.payment_session_id
    assert cart.payment_session.data == {"k": "v"}
    assert cart.amount_due == Decimal("19.99")
    assert not cart.is_completed
    assert cart.order_id is None


async def test_completed_and_unlinked_carts_on_the_reference_schema(
    reference_reader: MedusaReader, reference_conn: asyncpg.Connection
) -> None:
    completed = await create_cart(reference_conn, completed=True)
    unlinked = await create_cart(reference_conn, amount=Decimal("7"))
    assert unlinked.payment_collection_id is not None
    await soft_delete_link(
        reference_conn, "cart_payment_collection", unlinked.cart_id, unlinked.payment_collection_id
    )

    completed_cart = await reference_reader.get_cart(completed.cart_id)
    unlinked_cart = await reference_reader.get_cart(unlinked.cart_id)

    assert completed_cart is not None
    assert completed_cart.is_completed
    assert completed_cart.order_id == completed.order_id
    assert unlinked_cart is not None
    assert unlinked_cart.payment_collection_id is None
    assert unlinked_cart.amount_due is None
    assert await reference_reader.get_cart("cart_01JUNKNOWN0000000000000000") is None


async def test_get_collection_of_an_order_on_the_reference_schema(
    reference_reader: MedusaReader, reference_conn: asyncpg.Connection
) -> None:
    order = await create_order(reference_conn, sales_channel_id="sc_eu")
    rows = await create_order_collection(reference_conn, order.order_id, amount=Decimal("23.7881"))
    cart = await create_cart(reference_conn, completed=True)
    assert cart.payment_collection_id is not None

    collection = await reference_reader.get_collection(rows.payment_collection_id)

    assert collection is not None
    assert (collection.order_id, collection.order_status) == (order.order_id, "pending")
    assert collection.amount_due == Decimal("23.7881")
    assert collection.currency_code == "EUR"
    assert collection.sales_channel_id == "sc_eu"
    assert collection.billing_address is not None
    assert collection.billing_address.last_name == "Hopper"
    assert collection.payment_session is not None
    assert collection.payment_session.id == rows.payment_session_id
    assert await reference_reader.get_collection_sales_channel(rows.payment_collection_id) == "sc_eu"
    # The cart's own collection, linked to its order too, is the cart's to pay.
    assert await reference_reader.get_collection(cart.payment_collection_id) is None


async def test_get_payment_session_on_the_reference_schema(
    reference_reader: MedusaReader, reference_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(reference_conn, currency="usd", amount=Decimal("1234567.89"))
    assert rows.payment_session_id is not None

    session = await reference_reader.get_payment_session(rows.payment_session_id)

    assert session is not None
    assert session.amount == Decimal("1234567.89")
    assert session.currency_code == "USD"
    assert session.cart_id == rows.cart_id
    assert session.payment_collection_id == rows.payment_collection_id
    assert await reference_reader.get_payment_session("payses_01JUNKNOWN000000000000000") is None


async def test_get_publishable_key_on_the_reference_schema(
    reference_reader: MedusaReader, reference_conn: asyncpg.Connection
) -> None:
    valid = await create_publishable_key(reference_conn, title="Reference shop")
    revoked = await create_publishable_key(reference_conn, revoked=True)
    deleted = await create_publishable_key(reference_conn, deleted=True)
    secret = await create_api_key(reference_conn, key_type="secret")

    key = await reference_reader.get_publishable_key(valid)

    assert key is not None
    assert key.title == "Reference shop"
    assert key.id.startswith("apk_")
    for token in (revoked, deleted, secret, "pk_unknown"):
        assert await reference_reader.get_publishable_key(token) is None


async def test_ping_on_the_reference_schema(reference_reader: MedusaReader) -> None:
    await reference_reader.ping()
