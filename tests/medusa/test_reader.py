"""MedusaReader against the fixture schema: exact money, link-table soft deletes, session choice, keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from app.db.medusa import MedusaPool
from app.repositories import medusa_sql
from app.repositories.medusa import MedusaReader
from app.repositories.medusa_rows import MedusaAddress, PublishableKey
from devtools.medusa_rows import (
    WEBSHOP_SALES_CHANNEL,
    complete_cart,
    create_api_key,
    create_cart,
    create_link,
    create_payment_collection,
    create_payment_session,
    create_publishable_key,
    soft_delete_link,
)


@pytest.mark.parametrize("amount", [Decimal("0.01"), Decimal("19.99"), Decimal("1234567.89")])
async def test_cart_amount_is_read_exactly_from_raw_amount(
    reader: MedusaReader, medusa_conn: asyncpg.Connection, amount: Decimal
) -> None:
    rows = await create_cart(medusa_conn, amount=amount)

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.payment_session is not None
    assert cart.payment_session.amount == amount
    assert cart.payment_collection_amount == amount
    assert cart.amount_due == amount
    assert str(cart.amount_due) == str(amount)


async def test_raw_amount_wins_when_the_numeric_column_differs(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, amount=Decimal("19.99"), numeric_amount=Decimal("19.98"))
    numeric = await medusa_conn.fetchval(
        "SELECT amount FROM payment_session WHERE id = $1", rows.payment_session_id
    )
    assert numeric == Decimal("19.98")

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.payment_session is not None
    assert cart.payment_session.amount == Decimal("19.99")
    assert cart.payment_collection_amount == Decimal("19.99")
    assert cart.amount_due == Decimal("19.99")


async def test_cart_carries_email_addresses_customer_and_upper_case_currency(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(
        medusa_conn, currency="usd", email="jane@example.com", session_data={"hpf_token": "tok_1"}
    )

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.id == rows.cart_id
    assert cart.email == "jane@example.com"
    assert cart.currency_code == "USD"
    assert cart.region_id == rows.region_id
    assert cart.customer_id == rows.customer_id
    assert cart.customer_first_name == "Ada"
    assert cart.customer_last_name == "Lovelace"
    assert cart.customer_phone == "+353861234567"
    expected_address = MedusaAddress(
        first_name="Ada",
        last_name="Lovelace",
        company=None,
        address_1="1 Grand Canal Street",
        address_2=None,
        city="Dublin",
        province=None,
        postal_code="D02 X285",
        country_code="IE",
        phone="+353861234567",
    )
    assert cart.billing_address == expected_address
    assert cart.shipping_address == expected_address
    assert cart.payment_collection_id == rows.payment_collection_id
    assert cart.payment_collection_status == "not_paid"
    assert not cart.is_completed
    assert cart.completed_at is None
    assert cart.order_id is None
    session = cart.payment_session
    assert session is not None
    assert session.id == rows.payment_session_id
    assert session.payment_collection_id == rows.payment_collection_id
    assert session.provider_id == "pp_netvalve_netvalve"
    assert session.currency_code == "USD"
    assert session.status == "pending"
    assert session.data == {"hpf_token": "tok_1"}
    assert session.authorized_at is None
    assert session.cart_id == rows.cart_id


async def test_guest_cart_without_addresses_or_customer(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, email=None, billing=False, shipping=False, customer=False)

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.email is None
    assert cart.billing_address is None
    assert cart.shipping_address is None
    assert cart.customer_id is None
    assert (cart.customer_first_name, cart.customer_last_name, cart.customer_phone) == (None, None, None)


async def test_cart_without_session_is_due_the_collection_amount(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, amount=Decimal("42.5"), with_session=False)

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.payment_session is None
    assert cart.payment_collection_id == rows.payment_collection_id
    assert cart.amount_due == Decimal("42.5")


async def test_cart_without_collection_has_nothing_due(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, with_collection=False)

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.payment_collection_id is None
    assert cart.payment_collection_amount is None
    assert cart.payment_collection_status is None
    assert cart.payment_session is None
    assert cart.amount_due is None


async def test_soft_deleted_collection_link_hides_the_collection(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    created_deleted = await create_cart(medusa_conn, collection_link_deleted=True)
    unlinked_later = await create_cart(medusa_conn)
    assert unlinked_later.payment_collection_id is not None
    await soft_delete_link(
        medusa_conn, "cart_payment_collection", unlinked_later.cart_id, unlinked_later.payment_collection_id
    )

    for rows in (created_deleted, unlinked_later):
        cart = await reader.get_cart(rows.cart_id)
        assert cart is not None
        assert cart.payment_collection_id is None
        assert cart.payment_session is None
        assert cart.amount_due is None


async def test_relinked_cart_reads_its_live_collection(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, amount=Decimal("10"))
    assert rows.payment_collection_id is not None
    await soft_delete_link(medusa_conn, "cart_payment_collection", rows.cart_id, rows.payment_collection_id)
    replacement = await create_payment_collection(medusa_conn, amount=Decimal("12.34"))
    await create_link(medusa_conn, "cart_payment_collection", rows.cart_id, replacement)

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.payment_collection_id == replacement
    assert cart.payment_session is None
    assert cart.amount_due == Decimal("12.34")


async def test_newest_live_netvalve_session_is_chosen(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, with_session=False, amount=Decimal("30"))
    assert rows.payment_collection_id is not None
    base = datetime.now(UTC) - timedelta(hours=1)

    async def session(minutes: int, amount: str, **kwargs: Any) -> str:
        return await create_payment_session(
            medusa_conn,
            payment_collection_id=rows.payment_collection_id,
            amount=Decimal(amount),
            created_at=base + timedelta(minutes=minutes),
            **kwargs,
        )

    await session(0, "30.01")
    expected = await session(10, "30.02", status="requires_more")
    await session(20, "30.03", deleted=True)
    await session(30, "30.04", provider_id="pp_stripe_stripe")

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.payment_session is not None
    assert cart.payment_session.id == expected
    assert cart.payment_session.status == "requires_more"
    assert cart.amount_due == Decimal("30.02")


@pytest.mark.parametrize("provider_id", ["pp_stripe_stripe", "pp_system_default", "ppXnetvalve_lookalike"])
async def test_sessions_of_other_providers_are_ignored(
    reader: MedusaReader, medusa_conn: asyncpg.Connection, provider_id: str
) -> None:
    rows = await create_cart(medusa_conn, provider_id=provider_id, amount=Decimal("5"))

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.payment_session is None
    assert cart.amount_due == Decimal("5")


async def test_completed_cart_has_its_order(reader: MedusaReader, medusa_conn: asyncpg.Connection) -> None:
    rows = await create_cart(medusa_conn, completed=True)

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.is_completed
    assert cart.completed_at is not None
    assert cart.order_id == rows.order_id
    assert rows.order_id is not None
    assert rows.order_id.startswith("order_")


async def test_soft_deleted_order_link_is_ignored(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn)
    order_id = await complete_cart(medusa_conn, rows.cart_id)
    await soft_delete_link(medusa_conn, "order_cart", order_id, rows.cart_id)

    cart = await reader.get_cart(rows.cart_id)

    assert cart is not None
    assert cart.is_completed
    assert cart.order_id is None


async def test_unknown_or_deleted_cart_is_none(reader: MedusaReader, medusa_conn: asyncpg.Connection) -> None:
    rows = await create_cart(medusa_conn)
    await medusa_conn.execute("UPDATE cart SET deleted_at = now() WHERE id = $1", rows.cart_id)

    assert await reader.get_cart(rows.cart_id) is None
    assert await reader.get_cart("cart_01JUNKNOWN0000000000000000") is None


async def test_payment_session_by_id(reader: MedusaReader, medusa_conn: asyncpg.Connection) -> None:
    rows = await create_cart(
        medusa_conn,
        currency="eur",
        amount=Decimal("19.99"),
        numeric_amount=Decimal("19.98"),
        session_data={"netvalve": {"order": "x"}},
    )
    assert rows.payment_session_id is not None

    session = await reader.get_payment_session(rows.payment_session_id)

    assert session is not None
    assert session.id == rows.payment_session_id
    assert session.payment_collection_id == rows.payment_collection_id
    assert session.provider_id == "pp_netvalve_netvalve"
    assert session.amount == Decimal("19.99")
    assert session.currency_code == "EUR"
    assert session.status == "pending"
    assert session.data == {"netvalve": {"order": "x"}}
    assert session.cart_id == rows.cart_id


async def test_payment_session_of_unlinked_collection_has_no_cart(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, collection_link_deleted=True)
    assert rows.payment_session_id is not None

    session = await reader.get_payment_session(rows.payment_session_id)

    assert session is not None
    assert session.cart_id is None


async def test_payment_session_authorized_at_is_read(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, with_session=False)
    assert rows.payment_collection_id is not None
    authorized_at = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    session_id = await create_payment_session(
        medusa_conn,
        payment_collection_id=rows.payment_collection_id,
        status="authorized",
        authorized_at=authorized_at,
    )

    session = await reader.get_payment_session(session_id)

    assert session is not None
    assert session.status == "authorized"
    assert session.authorized_at == authorized_at


async def test_deleted_or_unknown_payment_session_is_none(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    rows = await create_cart(medusa_conn, with_session=False)
    assert rows.payment_collection_id is not None
    deleted = await create_payment_session(
        medusa_conn, payment_collection_id=rows.payment_collection_id, deleted=True
    )

    assert await reader.get_payment_session(deleted) is None
    assert await reader.get_payment_session("payses_01JUNKNOWN000000000000000") is None


async def test_valid_publishable_key(reader: MedusaReader, medusa_conn: asyncpg.Connection) -> None:
    token = await create_publishable_key(medusa_conn, title="Webshop")
    key_id = await medusa_conn.fetchval("SELECT id FROM api_key WHERE token = $1", token)

    assert token.startswith("pk_")
    assert await reader.get_publishable_key(token) == PublishableKey(
        id=key_id, title="Webshop", sales_channel_ids=frozenset({WEBSHOP_SALES_CHANNEL})
    )


async def test_key_revoked_in_the_future_still_works(
    reader: MedusaReader, medusa_conn: asyncpg.Connection
) -> None:
    token = await create_api_key(medusa_conn, revoked_at=datetime.now(UTC) + timedelta(hours=1))

    assert await reader.get_publishable_key(token) is not None


@pytest.mark.parametrize("kind", ["revoked", "deleted", "secret"])
async def test_unusable_keys_are_refused(
    reader: MedusaReader, medusa_conn: asyncpg.Connection, kind: str
) -> None:
    if kind == "secret":
        token = await create_api_key(medusa_conn, key_type="secret")
    else:
        token = await create_publishable_key(
            medusa_conn, revoked=kind == "revoked", deleted=kind == "deleted"
        )

    assert await reader.get_publishable_key(token) is None


async def test_unknown_key_is_refused(reader: MedusaReader, medusa_conn: asyncpg.Connection) -> None:
    await create_publishable_key(medusa_conn)

    assert await reader.get_publishable_key("pk_" + "0" * 64) is None


async def test_ping(reader: MedusaReader) -> None:
    await reader.ping()


async def test_the_service_pool_cannot_write(medusa_pool: MedusaPool) -> None:
    async with medusa_pool.acquire() as conn:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("INSERT INTO payment_provider (id) VALUES ('pp_evil_evil')")


async def test_reader_transactions_are_read_only_even_on_a_writable_pool(db: str) -> None:
    pool: MedusaPool = await asyncpg.create_pool(db, min_size=1, max_size=1)
    try:
        reader = MedusaReader(pool)
        async with reader._read_only() as conn:
            assert await conn.fetchval("SHOW transaction_read_only") == "on"
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await conn.execute("INSERT INTO payment_provider (id) VALUES ('pp_evil_evil')")
        await reader.ping()
    finally:
        await pool.close()


def test_the_statements_read_exactly_the_tables_the_read_only_role_is_granted() -> None:
    statements = [sql for name, sql in vars(medusa_sql).items() if name.isupper() and isinstance(sql, str)]
    read = {table for sql in statements for table in re.findall(r'\b(?:FROM|JOIN)\s+("?[a-z_]+"?)', sql)}
    assert read == set(medusa_sql.TABLES_READ)
