"""X-Forwarded-For: every header line is read, right to left, and believed only through TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress

import pytest

from app.core.client_address import client_address
from devtools.netvalve_events import event_body
from tests.support.webhooks import WEBHOOK_PATH, auth_headers
from tests.webhooks.conftest import MakeStack

PROXIES = [ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "lines", "expected"),
    [
        # Not from a proxy: X-Forwarded-For is the client's own text and is ignored.
        ("203.0.113.5", ["192.0.2.7"], "203.0.113.5"),
        # The proxy appended the real client to the client's forged line.
        ("10.0.0.2", ["192.0.2.7, 198.51.100.4"], "198.51.100.4"),
        # The proxy added a line of its own after the client's forged line.
        ("10.0.0.2", ["192.0.2.7", "198.51.100.4"], "198.51.100.4"),
        # Two proxies of ours: both skipped, right to left, over line boundaries.
        ("10.0.0.2", ["192.0.2.7", "198.51.100.4, 10.1.1.1", "10.2.2.2"], "198.51.100.4"),
        # Garbage to the right of the client ends the walk: nothing to its left can be believed.
        ("10.0.0.2", ["192.0.2.7", "not-an-address"], None),
        # Only our proxies: the peer itself.
        ("10.0.0.2", ["10.3.3.3"], "10.0.0.2"),
        ("10.0.0.2", [], "10.0.0.2"),
    ],
)
def test_client_address(peer: str, lines: list[str], expected: str | None) -> None:
    assert client_address(peer, lines, PROXIES) == expected


async def test_a_forged_first_forwarded_for_line_does_not_pass_the_webhook_allow_list(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(
        client_addr=("10.9.9.9", 1),
        netvalve_webhook_allowed_ips="192.0.2.0/24",
        trusted_proxies="10.0.0.0/8",
    )
    body = event_body()
    # The attacker's own line names an allowed address; the proxy's line, after it, names the attacker.
    forged = [("x-forwarded-for", "192.0.2.7"), ("x-forwarded-for", "203.0.113.5")]
    response = await stack.client.post(WEBHOOK_PATH, json=body, headers=[*auth_headers().items(), *forged])
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "webhook_ip_forbidden"
    assert await stack.events() == []

    # The same lines the other way round: the proxy vouches for the allowed address.
    honest = [("x-forwarded-for", "203.0.113.5"), ("x-forwarded-for", "192.0.2.7")]
    response = await stack.client.post(WEBHOOK_PATH, json=body, headers=[*auth_headers().items(), *honest])
    assert response.status_code == 200, response.text
    [event] = await stack.events()
    assert event.source_ip == "192.0.2.7"
