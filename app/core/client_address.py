"""The client's address behind reverse proxies, believing ``X-Forwarded-For`` only as far as
``TRUSTED_PROXIES`` vouch for it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str | None) -> IpAddress | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def in_networks(address: IpAddress | None, networks: Iterable[IpNetwork]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[IpNetwork]
) -> str | None:
    """The direct peer; or, when the peer is a trusted proxy, the nearest untrusted hop of
    ``X-Forwarded-For``, read right to left across every header line.

    A client may send its own ``X-Forwarded-For`` lines; each proxy appends its hop to the last line or adds a
    line after them, so only hops to the right of the client's input were written by our proxies. Reading just
    the first line would believe whatever the client wrote there. An unparsable hop ends the walk with no
    address: nothing to its left can be trusted."""
    address = parse_ip(peer)
    if not in_networks(address, trusted_proxies):
        return str(address) if address is not None else peer
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        hop_address = parse_ip(hop)
        if hop_address is None:
            return None
        if not in_networks(hop_address, trusted_proxies):
            return str(hop_address)
    return str(address)
