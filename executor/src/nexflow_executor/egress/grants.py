"""Host grants: what one call may reach, and how a requested host:port is matched.

A grant is the text the control plane sends in `ExecuteRequest.network_hosts`:

- `api.example.com:443`  exactly that host and port
- `api.example.com`      that host on the web ports, 80 and 443
- `api.example.com:*`    that host on any port
- `*.example.com:443`    any name below example.com, at any depth (`a.example.com`,
  `a.b.example.com`), never `example.com` itself: write it as a grant of its own
- `10.0.0.5:8080`, `[fd00::1]:443`  an address literal; the only way a loopback, private,
  link-local, unique-local or multicast destination is ever reached (see addresses.py)

Names are compared in canonical form: lower case, one trailing dot dropped, IDNA
(punycode) for non-ASCII labels. Anything else is refused when the request is validated.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["WEB_PORTS", "HostGrant", "IPAddress", "canonical_host", "parse_grant"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
WEB_PORTS = frozenset({80, 443})
ANY_PORT = 0
_LABEL = r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)"
_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_GRANT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::(?P<port>\d{1,5}|\*))?$")


def canonical_host(text: str) -> str | IPAddress:
    """A host as written in a request or grant, canonicalised; ValueError when malformed.

    Returns an address for literals (`10.0.0.5`, `[::1]`), else the lower-case ASCII name.
    A name whose last label is all digits is refused: it is no DNS name, and resolvers
    read forms like `2130706433` or `0x7f.1` as addresses.
    """
    host = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if text.startswith("["):
        raise ValueError(f"{text!r} is not an IPv6 address")
    name = host.rstrip(".") if host.endswith(".") and not host.endswith("..") else host
    try:
        name = name.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"{text!r} is not a valid host name") from exc
    if len(name) > 253 or not _NAME.match(name):
        raise ValueError(f"{text!r} is not a valid host name")
    if name.rpartition(".")[2].isdigit() or name.startswith("0x"):
        raise ValueError(f"{text!r} looks like a numeric address; write it as a.b.c.d")
    return name


@dataclass(frozen=True, slots=True)
class HostGrant:
    """One parsed grant; `text` is what the control plane sent, for records and logs."""

    text: str
    name: str  # canonical name without the "*." of a wildcard; "" for an address literal
    wildcard: bool
    address: IPAddress | None
    port: int | None  # None: the web ports 80 and 443; ANY_PORT (0): every port

    def _port_ok(self, port: int) -> bool:
        if self.port is None:
            return port in WEB_PORTS
        return self.port in (ANY_PORT, port)

    def matches(self, host: str | IPAddress, port: int) -> bool:
        """Whether a request for canonical `host` at `port` falls under this grant."""
        if not self._port_ok(port):
            return False
        if isinstance(host, str):
            if self.address is not None:
                return False
            if self.wildcard:
                return host.endswith("." + self.name)
            return host == self.name
        return self.address is not None and self.address == host

    def names_address(self, address: IPAddress, port: int) -> bool:
        """Whether this grant names exactly `address` (a literal) and admits `port`."""
        return self.address is not None and self.address == address and self._port_ok(port)


def parse_grant(text: str) -> HostGrant:
    """Parse one grant (module docstring); ValueError with a reason when malformed."""
    match = _GRANT.match(text.strip())
    if match is None:
        raise ValueError(f"{text[:100]!r} is not host[:port], *.domain[:port] or [v6]:port")
    raw_host, raw_port = match.group("host"), match.group("port")
    port: int | None = None
    if raw_port == "*":
        port = ANY_PORT
    elif raw_port is not None:
        port = int(raw_port)
        if not 1 <= port <= 65535:
            raise ValueError(f"{text[:100]!r}: port {port} is outside 1-65535")
    wildcard = raw_host.startswith("*.")
    host = canonical_host(raw_host[2:] if wildcard else raw_host)
    if isinstance(host, str):
        if wildcard and "." not in host:
            raise ValueError(f"{text[:100]!r}: a wildcard must sit below a domain, not a TLD")
        return HostGrant(text, host, wildcard, None, port)
    if wildcard:
        raise ValueError(f"{text[:100]!r}: an address cannot carry a wildcard")
    return HostGrant(text, "", False, host, port)
