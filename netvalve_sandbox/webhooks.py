"""Webhook delivery: NetValve's body, the configured custom header, retries and the delivery knobs.

A background task started on first use delivers queued webhooks. A failed attempt (non-2xx, error, or no
answer within `webhook_timeout_seconds`) is retried `webhook_instant_retries` times at once and then after
each delay of `webhook_retry_schedule`, a shortened form of NetValve's 15 min ... 24 h schedule; then it is
given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from netvalve_sandbox.faults import Knobs
from netvalve_sandbox.settings import SandboxSettings
from netvalve_sandbox.wire import api_timestamp, dumps, now


@dataclass(frozen=True)
class DeliveryAttempt:
    event: str
    transaction_id: int | None
    copy: int
    attempt: int
    status_code: int | None
    error: str | None
    result: str
    at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "eventName": self.event,
            "transactionId": self.transaction_id,
            "copy": self.copy,
            "attempt": self.attempt,
            "statusCode": self.status_code,
            "error": self.error,
            "result": self.result,
            "at": self.at,
        }


@dataclass
class _Job:
    seq: int
    event: str
    transaction_id: int | None
    body: bytes
    copy: int
    attempts: int = 0
    due: float = 0.0


class WebhookDispatcher:
    def __init__(
        self,
        settings: SandboxSettings,
        client: httpx.AsyncClient | None,
        knobs: Callable[[], Knobs],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._client = client
        self._owns_client = client is None
        self._knobs = knobs
        self._clock = clock
        self.events: list[dict[str, Any]] = []
        self.deliveries: list[DeliveryAttempt] = []
        self._queue: list[_Job] = []
        self._held: list[_Job] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None

    @property
    def retry_delays(self) -> list[float]:
        return [0.0] * self._settings.webhook_instant_retries + list(self._settings.webhook_retry_schedule)

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._held)

    def emit(self, body: dict[str, Any]) -> None:
        """Record an event and queue its delivery according to the knobs."""
        self.events.append(body)
        knobs = self._knobs()
        if not knobs.webhooks_enabled or not self._settings.webhook_url:
            return
        data = body.get("data", {})
        encoded = dumps(body).encode()
        copies = 2 if knobs.duplicate_webhooks else 1
        jobs = []
        for copy in range(1, copies + 1):
            self._seq += 1
            jobs.append(_Job(self._seq, body["eventName"], data.get("transactionId"), encoded, copy))
        if knobs.out_of_order_webhooks:
            if not self._held:
                self._held = jobs
                return
            jobs, self._held = jobs + self._held, []
        self._enqueue(jobs)

    def flush_held(self) -> None:
        """Release a webhook held for out-of-order pairing, e.g. when draining or when the knob goes off."""
        jobs, self._held = self._held, []
        self._enqueue(jobs)

    def _enqueue(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        for job in jobs:
            job.due = self._clock()
        self._queue.extend(jobs)
        self._idle.clear()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="sandbox-webhooks")

    async def drain(self, wait_seconds: float) -> bool:
        """Wait until every queued webhook is delivered or given up; False when `wait_seconds` ran out."""
        self.flush_held()
        try:
            await asyncio.wait_for(self._idle.wait(), wait_seconds)
        except TimeoutError:
            return False
        return True

    def reset(self) -> None:
        self.events.clear()
        self.deliveries.clear()
        self._queue.clear()
        self._held.clear()
        self._idle.set()

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _take_due(self) -> _Job | None:
        moment = self._clock()
        due = [job for job in self._queue if job.due <= moment]
        if not due:
            return None
        job = min(due, key=lambda item: (item.due, item.seq))
        self._queue.remove(job)
        return job

    async def _run(self) -> None:
        while True:
            job = self._take_due()
            if job is not None:
                await self._deliver(job)
                continue
            if not self._queue:
                self._idle.set()
            wait = max(0.0, min(item.due for item in self._queue) - self._clock()) if self._queue else None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._settings.webhook_timeout_seconds)
        return self._client

    async def _deliver(self, job: _Job) -> None:
        settings = self._settings
        assert settings.webhook_url is not None
        job.attempts += 1
        status_code: int | None = None
        error: str | None = None
        headers = {
            "content-type": "application/json",
            settings.webhook_header_name: settings.webhook_header_value.get_secret_value(),
        }
        try:
            async with asyncio.timeout(settings.webhook_timeout_seconds):
                response = await self._http().post(settings.webhook_url, content=job.body, headers=headers)
            status_code = response.status_code
        except Exception as exc:
            # Any failure of the receiver counts as a failed delivery, exactly like NetValve treats it.
            error = f"{type(exc).__name__}: {exc}"
        delays = self.retry_delays
        if status_code is not None and 200 <= status_code < 300:
            result = "delivered"
        elif job.attempts <= len(delays):
            result = "retrying"
            job.due = self._clock() + delays[job.attempts - 1]
            self._queue.append(job)
        else:
            result = "gave_up"
        self.deliveries.append(
            DeliveryAttempt(
                job.event,
                job.transaction_id,
                job.copy,
                job.attempts,
                status_code,
                error,
                result,
                api_timestamp(now()),
            )
        )
