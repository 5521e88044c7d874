"""The client's address behind reverse proxies, believing ``X-Forwarded-For`` only as far as
``TRUSTED_PROXIES`` vouch for it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# How some load balancers write a hop: the address with the client's port, an IPv6 one in brackets.
_BRACKETED = re.compile(r"\[([^\]]+)\](?::\d{1,5})?")
_IPV4_PORT = re.compile(r"([0-9.]+):\d{1,5}")
# An IPv6 client holds a whole /64 (SLAAC, privacy addresses): limited per /128 it would start afresh at will.
IPV6_LIMIT_PREFIX = 64


def parse_ip(value: str | None) -> IpAddress | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def parse_hop(hop: str) -> IpAddress | None:
    """An ``X-Forwarded-For`` hop: a bare address, ``203.0.113.7:4444``, ``[2001:db8::1]`` or
    ``[2001:db8::1]:443``; None for anything else."""
    hop = hop.strip()
    if (bracketed := _BRACKETED.fullmatch(hop)) is not None:
        address = parse_ip(bracketed.group(1))
        return address if isinstance(address, ipaddress.IPv6Address) else None
    if (with_port := _IPV4_PORT.fullmatch(hop)) is not None:
        address = parse_ip(with_port.group(1))
        return address if isinstance(address, ipaddress.IPv4Address) else None
    return parse_ip(hop)


def in_networks(address: IpAddress | None, networks: Iterable[IpNetwork]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: str | None,
    forwarded_for: Sequence[str],
    trusted_proxies: Sequence[IpNetwork],
    *,
    unreadable_as_proxy: bool = False,
) -> str | None:
    """The direct peer; or, when the peer is a trusted proxy, the nearest untrusted hop of
    ``X-Forwarded-For``, read right to left across every header line.

    A client may send its own ``X-Forwarded-For`` lines; each proxy appends its hop to the last line or adds a
    line after them, so only hops to the right of the client's input were written by our proxies. Reading just
    the first line would believe whatever the client wrote there. An unparsable hop ends the walk: nothing to
    its left can be trusted. The answer is then None (no address to show NetValve or to match an allow-list),
    or with ``unreadable_as_proxy`` the nearest trusted hop, for a rate limit that must never be skipped."""
    address = parse_ip(peer)
    if not in_networks(address, trusted_proxies):
        return str(address) if address is not None else peer
    nearest = address
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        hop_address = parse_hop(hop)
        if hop_address is None:
            return str(nearest) if unreadable_as_proxy else None
        if not in_networks(hop_address, trusted_proxies):
            return str(hop_address)
        nearest = hop_address
    return str(address)


def limit_subject(address: str) -> str:
    """What a per-address rate limit counts: an IPv4 address, or the /64 an IPv6 address is in."""
    parsed = parse_ip(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_LIMIT_PREFIX), strict=False))
    return address
