from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from netvalve_sandbox.settings import SandboxSettings
from tests.support.sandbox import WEBHOOK_URL, Harness, MakeHarness, Receiver


def sandbox_settings(**overrides: Any) -> SandboxSettings:
    defaults: dict[str, Any] = {
        "webhook_url": WEBHOOK_URL,
        "webhook_retry_schedule": [0.02, 0.05],
        "pending_settle_seconds": 0.2,
        "timeout_seconds": 0.2,
    }
    return SandboxSettings(**(defaults | overrides))


@pytest.fixture
async def make_harness() -> AsyncIterator[MakeHarness]:
    """Build sandboxes with custom settings; all are shut down after the test."""
    built: list[Harness] = []

    async def make(receiver: Receiver | None = None, **overrides: Any) -> Harness:
        harness = Harness(sandbox_settings(**overrides), receiver or Receiver())
        built.append(harness)
        return harness

    yield make
    for harness in built:
        await harness.aclose()


@pytest.fixture
async def sandbox(make_harness: MakeHarness) -> Harness:
    return await make_harness()
