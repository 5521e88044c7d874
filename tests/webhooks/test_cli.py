"""`netvalve-service webhooks list|replay`, run as ops would: the installed command against the database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from app.models import WebhookEvent
from app.runtime import process_due_webhooks
from devtools.netvalve_events import event_body
from devtools.pgcluster import free_port
from tests.support.webhooks import post_event
from tests.webhooks.conftest import Stack

COMMAND = os.path.join(os.path.dirname(sys.executable), "netvalve-service")


async def cli(db: str, *args: str) -> tuple[int, str, str]:
    # A clean directory and environment: only what an operator would set.
    env = {"PATH": os.environ["PATH"], "APP_ENV": "test", "DATABASE_URL": db}
    with tempfile.TemporaryDirectory() as cwd:
        process = await asyncio.create_subprocess_exec(
            COMMAND,
            *args,
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def rows(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


async def test_list_and_replay_events_needing_attention(db: str, stack: Stack) -> None:
    sale = await stack.sandbox_sale("order-cli")
    txn = int(sale["transactionID"])
    await stack.add_payment(netvalve_transaction_id=txn, client_order_id="order-cli")
    await post_event(stack.client, event_body("PURCHASED", transaction_id=txn, client_order_id="order-cli"))
    await post_event(stack.client, event_body("AUTHORISED", transaction_id=777001, client_order_id="lost"))
    await process_due_webhooks(stack.state, 10)
    async with stack.state.sessionmaker.begin() as db_session:
        await db_session.execute(
            update(WebhookEvent).where(WebhookEvent.status == "pending").values(status="attention")
        )

    code, out, err = await cli(db, "webhooks", "list", "--status", "attention", "--json")
    assert code == 0, err
    [listed] = rows(out)
    assert (listed["event_name"], listed["netvalve_transaction_id"]) == ("AUTHORISED", 777001)
    assert listed["last_error"] == "no payment for this transaction yet"

    code, out, err = await cli(db, "webhooks", "list")
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split("\t")[:3] == ["id", "status", "event_name"]
    assert sorted(line.split("\t")[1] for line in lines) == ["attention", "processed"]

    code, out, err = await cli(db, "webhooks", "replay", "--status", "attention", "--json")
    assert code == 0, err
    [replayed] = rows(out)
    assert replayed["id"] == listed["id"]
    assert replayed["status"] == "pending"
    assert replayed["last_error"] is None
    assert datetime.fromisoformat(replayed["next_attempt_at"]) <= datetime.now(UTC) + timedelta(seconds=1)
    # Due now: the worker picks it up again on its next pass.
    assert await process_due_webhooks(stack.state, 10) == 1


async def test_replay_with_an_unknown_id_changes_nothing(db: str, stack: Stack) -> None:
    await post_event(stack.client, event_body("AUTHORISED", transaction_id=777002))
    await process_due_webhooks(stack.state, 10)
    [event] = await stack.events()
    assert event.status == "pending"

    code, out, err = await cli(db, "webhooks", "replay", str(event.id), "999999")
    assert code == 1
    assert "999999" in err
    assert out == ""
    [after] = await stack.events()
    assert after.next_attempt_at == event.next_attempt_at
    assert after.last_error == event.last_error

    code, _, err = await cli(db, "webhooks", "replay")
    assert code == 2
    assert "ids or --status" in err


async def test_an_unreachable_database_is_one_clear_line() -> None:
    closed = f"postgresql://netvalve:s3cret-pw@127.0.0.1:{free_port()}/netvalve"
    code, out, err = await cli(closed, "webhooks", "list")
    assert code == 1
    assert out == ""
    assert err.startswith("cannot reach the database:")
    assert "Traceback" not in err
    assert "s3cret-pw" not in err
