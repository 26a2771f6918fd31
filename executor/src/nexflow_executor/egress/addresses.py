"""Which destination addresses the proxy refuses unless a grant names them exactly.

Everything that is not globally routable is refused: loopback, RFC 1918 private,
link-local (169.254.0.0/16 with the cloud metadata address 169.254.169.254, fe80::/10),
unique-local IPv6 (fc00::/7), multicast, and the rest of the special-purpose registry
(unspecified, shared address space 100.64.0.0/10 where some clouds put their metadata
service, documentation, benchmarking, reserved, broadcast). IPv6 forms that carry an IPv4
address — mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo —
are judged by the IPv4 address inside, so `::ffff:127.0.0.1` is loopback too.
"""

from __future__ import annotations

import ipaddress

from nexflow_executor.egress.grants import IPAddress

__all__ = ["refusal"]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address; the server is public by design
    return None


def refusal(address: IPAddress) -> str | None:
    """The category that makes `address` refused by default, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return refusal(inner)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "unique_local"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None
