"""The benchmark's floor: the least a durable acknowledgement costs on this machine.

``POST /plain`` stores the body with one asyncpg INSERT and answers 200. ``POST /dedup`` does what the
webhook intake must at least do: parse the JSON, derive the de-duplication key (design.md section 6) and
INSERT ... ON CONFLICT DO NOTHING on a unique key. Run it with the same uvicorn settings as the service:

    BENCH_BASELINE_DSN=postgresql://... uvicorn bench.baseline_app:app --workers 2
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SCHEMA = """
CREATE TABLE IF NOT EXISTS baseline_plain (
    id bigserial PRIMARY KEY,
    body text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS baseline_dedup (
    id bigserial PRIMARY KEY,
    dedup_key varchar(128) NOT NULL UNIQUE,
    body text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
"""

# The service's pool is SQLAlchemy's 10 + 10 overflow per worker; give the floor the same ceiling.
POOL_MAX = 20


def dedup_key(payload: dict[str, Any]) -> str:
    data = payload.get("data") or {}
    return hashlib.sha256(
        f"{payload.get('eventName')}|{data.get('transactionId')}|{data.get('traceId')}".encode()
    ).hexdigest()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["BENCH_BASELINE_DSN"], min_size=1, max_size=POOL_MAX)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/plain")
async def plain(request: Request) -> JSONResponse:
    body = (await request.body()).decode()
    await request.app.state.pool.execute("INSERT INTO baseline_plain (body) VALUES ($1)", body)
    return JSONResponse({"status": "accepted"})


@app.post("/dedup")
async def dedup(request: Request) -> JSONResponse:
    text = (await request.body()).decode()
    key = dedup_key(json.loads(text))
    stored = await request.app.state.pool.fetchval(
        "INSERT INTO baseline_dedup (dedup_key, body) VALUES ($1, $2)"
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        key,
        text,
    )
    return JSONResponse({"status": "accepted" if stored is not None else "duplicate"})


@app.get("/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})
