"""The webhook endpoint: authentication, limits, storage, de-duplication."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import func, select

from app.main import create_app
from app.models import WebhookEvent
from devtools.netvalve_events import DOC_EXAMPLE, event_body
from tests.conftest import make_settings
from tests.support.webhooks import (
    EVENT_NAMES,
    SERVICE_KEY,
    WEBHOOK_HEADER,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    post_event,
)
from tests.webhooks.conftest import MakeStack, Stack


async def test_documented_example_is_stored_verbatim(stack: Stack) -> None:
    raw = json.dumps(DOC_EXAMPLE)
    response = await post_event(stack.client, raw, cookie="a=b", authorization="Bearer x")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted"}
    [event] = await stack.events()
    assert event.event_name == "PURCHASED"
    assert event.netvalve_transaction_id == 12334
    assert event.client_order_id == "XXXXXXX"
    assert event.medusa_action == "captured"
    assert event.status == "received"
    assert event.raw_body == raw
    assert event.payload == DOC_EXAMPLE
    assert event.source_ip == "127.0.0.1"
    assert WEBHOOK_HEADER not in event.headers
    assert "cookie" not in event.headers
    assert "authorization" not in event.headers
    assert event.headers["content-type"] == "application/json"


@pytest.mark.parametrize("name", EVENT_NAMES)
async def test_every_documented_event_name_is_accepted(stack: Stack, name: str) -> None:
    response = await post_event(stack.client, event_body(name))

    assert response.status_code == 200
    [event] = await stack.events()
    assert event.status == "received"
    expected = {
        "AUTHORISED": "authorized",
        "PURCHASED": "captured",
        "CAPTURED": "captured",
        "REBILLED": "captured",
        "CANCELLED": "canceled",
        "REFUNDED": "not_supported",
        "CHARGEBACK": "not_supported",
    }
    if name.endswith("_FAILED"):
        assert event.medusa_action == "failed"
    elif name.endswith("_PENDING"):
        assert event.medusa_action == "pending"
    else:
        assert event.medusa_action == expected[name]


async def test_failure_body_with_nulls_and_epoch_timestamp(stack: Stack) -> None:
    body = event_body("PURCHASE_FAILED", transaction_id=None, responseTimestamp=1702898567637)
    body["data"] |= {"responseCode": None, "responseCodeType": None}
    first = await post_event(stack.client, body)
    second = await post_event(stack.client, body)

    assert first.json() == {"status": "accepted"}
    assert second.json() == {"status": "duplicate"}
    [event] = await stack.events()
    assert event.netvalve_transaction_id is None


async def test_duplicate_is_answered_200_and_stored_once(stack: Stack) -> None:
    body = event_body("CAPTURED")
    first = await post_event(stack.client, body)
    # Same event, fields reordered and re-encoded: still the same (eventName, transactionId, traceId).
    second = await post_event(stack.client, json.dumps(body, indent=2, sort_keys=True))

    assert first.json() == {"status": "accepted"}
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert len(await stack.events()) == 1


async def test_unknown_event_name_is_stored_not_supported(stack: Stack) -> None:
    response = await post_event(stack.client, event_body("TOKEN_STATE_CHANGED"))

    assert response.json() == {"status": "accepted"}
    [event] = await stack.events()
    assert event.status == "not_supported"
    assert event.medusa_action == "not_supported"


@pytest.mark.parametrize("headers", [{}, {WEBHOOK_HEADER: "wrong-secret"}, {WEBHOOK_HEADER: ""}])
async def test_wrong_or_missing_header_is_401_and_stores_nothing(
    stack: Stack, headers: dict[str, str]
) -> None:
    response = await stack.client.post(WEBHOOK_PATH, json=event_body(), headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "webhook_unauthenticated"
    assert await stack.events() == []


async def test_rotated_secrets_are_all_accepted(make_stack: MakeStack) -> None:
    stack = await make_stack(netvalve_webhook_auth_values=f"old-secret-0123456789,{WEBHOOK_SECRET}")
    old = await post_event(
        stack.client, event_body(trace_id="a"), **{WEBHOOK_HEADER: "old-secret-0123456789"}
    )
    new = await post_event(stack.client, event_body(trace_id="b"))

    assert (old.status_code, new.status_code) == (200, 200)


@pytest.mark.parametrize(
    "overrides",
    [
        {"netvalve_webhook_auth_header": None},
        {"netvalve_webhook_auth_values": ""},
        {"netvalve_webhook_auth_header": None, "netvalve_webhook_auth_values": ""},
    ],
)
async def test_without_configuration_everything_is_refused(
    make_stack: MakeStack, overrides: dict[str, object]
) -> None:
    stack = await make_stack(**overrides)
    for headers in ({}, {WEBHOOK_HEADER: ""}, {WEBHOOK_HEADER: WEBHOOK_SECRET}):
        response = await stack.client.post(WEBHOOK_PATH, json=event_body(), headers=headers)
        assert response.status_code in (401, 503)
        assert response.json()["error"]["code"] == "webhook_not_configured"
    assert await stack.events() == []


async def test_disallowed_ip_is_403(make_stack: MakeStack) -> None:
    stack = await make_stack(client_addr=("10.1.2.3", 123), netvalve_webhook_allowed_ips="192.0.2.0/24")
    response = await post_event(stack.client, event_body())

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "webhook_ip_forbidden"
    assert await stack.events() == []


async def test_allowed_ip_is_accepted(make_stack: MakeStack) -> None:
    stack = await make_stack(client_addr=("192.0.2.7", 123), netvalve_webhook_allowed_ips="192.0.2.0/24")
    response = await post_event(stack.client, event_body())

    assert response.status_code == 200
    [event] = await stack.events()
    assert event.source_ip == "192.0.2.7"


async def test_forwarded_for_is_honoured_only_from_a_trusted_proxy(make_stack: MakeStack) -> None:
    allowed = {"netvalve_webhook_allowed_ips": "192.0.2.0/24", "trusted_proxies": "10.0.0.0/8"}
    via_proxy = await make_stack(client_addr=("10.9.9.9", 1), **allowed)
    spoofer = await make_stack(client_addr=("203.0.113.5", 1), **allowed)
    forwarded = {"x-forwarded-for": "192.0.2.7"}

    assert (await post_event(via_proxy.client, event_body(), **forwarded)).status_code == 200
    denied = await post_event(spoofer.client, event_body(trace_id="x"), **forwarded)
    assert denied.status_code == 403
    # A client cannot prepend an allowed address either: the proxy's nearest hop is what counts.
    chained = await post_event(
        via_proxy.client, event_body(trace_id="y"), **{"x-forwarded-for": "192.0.2.7, 203.0.113.5"}
    )
    assert chained.status_code == 403
    [event] = await via_proxy.events()
    assert event.source_ip == "192.0.2.7"


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"not json at all", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'{"data": {}}', "no 'eventName'"),
        (b'{"eventName": 42}', "no 'eventName'"),
        (b"\xff\xfe", "not JSON"),
        (b'{"eventName": "PURCHASED", "data": {"amount": NaN}}', "not JSON"),
    ],
)
async def test_invalid_body_is_400(stack: Stack, content: bytes, detail: str) -> None:
    response = await post_event(stack.client, content)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook_body"
    assert detail in response.json()["error"]["message"]
    assert await stack.events() == []


async def test_characters_postgresql_cannot_store_are_replaced_not_refused(stack: Stack) -> None:
    """NUL and a lone surrogate are valid JSON escapes but not storable in jsonb or text: the event is kept
    (NetValve would retry a 4xx or 5xx forever), its raw body exactly, its parsed fields with U+FFFD."""
    body = (
        b'{"eventName": "PURCHASED", "data": {"transactionId": 99999999999999999999999,'
        b' "clientOrderId": "a\\u0000b", "traceId": "t\\ud800", "note\\u0000": ["x\\u0000"]}}'
    )
    response = await post_event(stack.client, body)
    assert response.status_code == 200, response.text

    [event] = await stack.events()
    assert event.raw_body == body.decode()
    assert event.client_order_id == "a\ufffdb"
    assert event.trace_id == "t\ufffd"
    assert event.netvalve_transaction_id is None
    assert event.payload["data"]["note\ufffd"] == ["x\ufffd"]
    assert (await post_event(stack.client, body)).json() == {"status": "duplicate"}


async def test_two_megabyte_body_is_413(stack: Stack) -> None:
    body = event_body(padding="x" * (2 * 1024 * 1024))
    response = await post_event(stack.client, body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await stack.events() == []


async def test_oversized_body_without_content_length_is_413(stack: Stack) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(64):
            yield b"x" * 65536

    response = await stack.client.post(
        WEBHOOK_PATH, content=chunks(), headers={WEBHOOK_HEADER: WEBHOOK_SECRET}
    )
    assert response.status_code == 413
    assert await stack.events() == []


async def test_database_outage_is_503_and_the_retry_is_stored(db: str, stack: Stack) -> None:
    down = create_app(
        make_settings(db, database_url="postgresql://postgres@127.0.0.1:1/x", medusa_database_url=db)
    )
    body = event_body("AUTHORISED")
    async with (
        down.router.lifespan_context(down),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=down), base_url="http://service.test") as client,
    ):
        response = await post_event(client, body)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"

    # NetValve retries once the database is back: the event is stored then, not lost.
    retry = await post_event(stack.client, body)
    assert retry.json() == {"status": "accepted"}
    assert len(await stack.events()) == 1


async def test_concurrent_deliveries_leave_one_row_per_distinct_event(stack: Stack) -> None:
    distinct = [event_body("PURCHASED", transaction_id=1000 + i, trace_id=f"t{i}") for i in range(100)]
    deliveries = [distinct[i % 100] for i in range(500)]

    responses = await asyncio.gather(*(post_event(stack.client, body) for body in deliveries))

    assert all(r.status_code == 200 for r in responses)
    statuses = [r.json()["status"] for r in responses]
    assert statuses.count("accepted") == 100
    assert statuses.count("duplicate") == 400
    async with stack.state.sessionmaker() as db:
        count = await db.scalar(select(func.count()).select_from(WebhookEvent))
        keys = await db.scalar(select(func.count(func.distinct(WebhookEvent.netvalve_transaction_id))))
    assert count == keys == 100


async def test_ops_routes_list_and_replay(stack: Stack) -> None:
    await post_event(stack.client, event_body("CAPTURED", transaction_id=999))
    auth = {"authorization": f"Bearer {SERVICE_KEY}"}

    assert (await stack.client.get(f"{WEBHOOK_PATH}/events")).status_code == 401
    listed = await stack.client.get(f"{WEBHOOK_PATH}/events", params={"status": "received"}, headers=auth)
    assert listed.status_code == 200
    [item] = listed.json()["events"]
    assert item["event_name"] == "CAPTURED"
    assert (
        await stack.client.get(f"{WEBHOOK_PATH}/events", params={"status": "attention"}, headers=auth)
    ).json() == {"events": []}

    replayed = await stack.client.post(f"{WEBHOOK_PATH}/events/{item['id']}/replay", headers=auth)
    assert replayed.status_code == 200
    assert replayed.json()["status"] == "pending"
    missing = await stack.client.post(f"{WEBHOOK_PATH}/events/424242/replay", headers=auth)
    assert missing.status_code == 404
