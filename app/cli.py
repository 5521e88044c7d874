"""``netvalve-service``: operations commands that talk to the service's database directly.

    netvalve-service webhooks list [--status pending --status attention] [--limit 100] [--json]
    netvalve-service webhooks replay 42 43
    netvalve-service webhooks replay --status attention

Replaying makes an event due now; the running service's worker processes it on its next pass, confirming
with NetValve first, so a replay can never apply anything NetValve does not confirm."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import ConfigurationError, load_settings
from app.db.session import create_engine, create_sessionmaker
from app.models import WebhookEvent, WebhookEventStatus
from app.repositories.webhooks import WebhookRepository
from app.schemas.webhook import WebhookEventResponse

COLUMNS = (
    "id",
    "status",
    "event_name",
    "netvalve_transaction_id",
    "client_order_id",
    "payment_session_id",
    "medusa_action",
    "attempts",
    "received_at",
    "next_attempt_at",
    "last_error",
)
REPLAY_ALL_LIMIT = 10_000


def _write(events: Sequence[WebhookEvent], as_json: bool) -> None:
    rows = [WebhookEventResponse.of(event).model_dump(mode="json") for event in events]
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    sys.stdout.write("\t".join(COLUMNS) + "\n")
    for row in rows:
        sys.stdout.write("\t".join("" if row[name] is None else str(row[name]) for name in COLUMNS) + "\n")


async def _list(sessionmaker: async_sessionmaker[AsyncSession], args: argparse.Namespace) -> int:
    async with sessionmaker() as db:
        events = await WebhookRepository(db).list_events(args.status or [], args.limit)
    _write(events, args.json)
    return 0


async def _replay(sessionmaker: async_sessionmaker[AsyncSession], args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.status):
        sys.stderr.write("replay: give event ids or --status, not both and not neither\n")
        return 2
    async with sessionmaker.begin() as db:
        repo = WebhookRepository(db)
        ids = list(args.ids) or [e.id for e in await repo.list_events(args.status, REPLAY_ALL_LIMIT)]
        replayed, missing = [], []
        for event_id in ids:
            event = await repo.queue_replay(event_id)
            if event is None:
                missing.append(event_id)
            else:
                replayed.append(event)
        if missing:
            # All or nothing: a typo in one id must not leave the others half-queued.
            await db.rollback()
            sys.stderr.write(f"replay: no webhook event with id {', '.join(map(str, missing))}\n")
            return 1
    _write(replayed, args.json)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netvalve-service", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="area", required=True)
    webhooks = commands.add_parser("webhooks", help="stored NetValve webhook events")
    actions = webhooks.add_subparsers(dest="action", required=True)
    statuses = [status.value for status in WebhookEventStatus]

    listing = actions.add_parser("list", help="stored events, newest first")
    listing.add_argument("--status", action="append", choices=statuses, help="repeat for several")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=_list)

    replay = actions.add_parser("replay", help="queue events for processing again now")
    replay.add_argument("ids", nargs="*", type=int, metavar="ID")
    replay.add_argument("--status", action="append", choices=statuses, help="every event in this status")
    replay.add_argument("--json", action="store_true", help="one JSON object per line")
    replay.set_defaults(run=_replay)
    return parser


async def _run(args: argparse.Namespace) -> int:
    engine = create_engine(load_settings())
    try:
        code: int = await args.run(create_sessionmaker(engine), args)
        return code
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "limit", 1) < 1:
        sys.stderr.write("--limit must be at least 1\n")
        return 2
    try:
        return asyncio.run(_run(args))
    except ConfigurationError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except (OSError, DBAPIError) as exc:
        # The address is in the message, the credentials never are.
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        sys.stderr.write(f"cannot reach the database: {type(reason).__name__}: {reason}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
