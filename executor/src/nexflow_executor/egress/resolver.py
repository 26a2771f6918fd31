"""Name resolution for the proxy: it resolves, it checks, and it connects to what it checked.

`SystemResolver` asks the host's resolver (getaddrinfo, in the executor's namespace).
`DnsResolver` asks the configured name servers directly (setting `egress.nameservers`),
over sockets made by a socket factory, so queries leave from the egress namespace when
one is configured. dnspython builds and parses the messages; A and AAAA are asked at
once; a truncated UDP answer is asked again over TCP. Only answers whose id and question
match the query are accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from nexflow_executor.egress.grants import IPAddress

__all__ = [
    "DnsResolver",
    "ResolveError",
    "Resolver",
    "SocketFactory",
    "SystemResolver",
    "connected_socket",
]

SocketFactory = Callable[[int, int], Awaitable[socket.socket]]
_MAX_UDP = 65535


class ResolveError(Exception):
    """The name has no usable address; the message says why (shown to the sandbox)."""


class Resolver(Protocol):
    async def resolve(self, name: str) -> list[IPAddress]:
        """The addresses of `name`, IPv4 first; ResolveError when there are none."""
        ...


def _ordered(addresses: list[IPAddress]) -> list[IPAddress]:
    unique = list(dict.fromkeys(addresses))
    return sorted(unique, key=lambda a: a.version)


class SystemResolver:
    """getaddrinfo in the executor's own namespace (its /etc/hosts and resolv.conf)."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = timeout_s

    async def resolve(self, name: str) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), self._timeout
            )
        except TimeoutError as exc:
            raise ResolveError(f"resolving {name} timed out") from exc
        except OSError as exc:
            raise ResolveError(f"{name} does not resolve ({exc.strerror or exc})") from exc
        found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not found:
            raise ResolveError(f"{name} has no address")
        return _ordered(found)


def parse_nameserver(text: str) -> tuple[IPAddress, int]:
    """`ip`, `ip:port` or `[v6]:port` → (address, port); ValueError when malformed."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif text.count(":") == 1:
        host, raw = text.split(":")
        port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError(f"name server {text!r}: port out of range")
    return ipaddress.ip_address(host), port


class DnsResolver:
    """Asks the given name servers in order until one answers (module docstring)."""

    def __init__(
        self, nameservers: list[str], timeout_s: float, sockets: SocketFactory | None = None
    ) -> None:
        if not nameservers:
            raise ValueError("DnsResolver needs at least one name server")
        self._servers = [parse_nameserver(n) for n in nameservers]
        self._timeout = timeout_s
        self._sockets = sockets or _plain_socket

    async def resolve(self, name: str) -> list[IPAddress]:
        last = ResolveError(f"{name}: no name server answered")
        for server in self._servers:
            try:
                answers = await asyncio.wait_for(
                    asyncio.gather(
                        self._ask(server, name, dns.rdatatype.A),
                        self._ask(server, name, dns.rdatatype.AAAA),
                    ),
                    self._timeout,
                )
            except TimeoutError:
                last = ResolveError(f"resolving {name} timed out")
                continue
            except (OSError, dns.exception.DNSException) as exc:
                last = ResolveError(f"resolving {name} failed: {exc}")
                continue
            rcodes = {rcode for rcode, _ in answers}
            found = [a for _, addresses in answers for a in addresses]
            if found:
                return _ordered(found)
            if dns.rcode.NXDOMAIN in rcodes:
                raise ResolveError(f"{name} does not exist (NXDOMAIN)")
            if rcodes <= {dns.rcode.NOERROR}:
                raise ResolveError(f"{name} has no address")
            last = ResolveError(
                f"resolving {name} failed: {dns.rcode.to_text(dns.rcode.Rcode(max(rcodes)))}"
            )
        raise last

    async def _ask(
        self, server: tuple[IPAddress, int], name: str, kind: dns.rdatatype.RdataType
    ) -> tuple[int, list[IPAddress]]:
        query = dns.message.make_query(name, kind)
        response = await self._udp(server, query)
        if response.flags & dns.flags.TC:
            response = await self._tcp(server, query)
        found: list[IPAddress] = []
        for rrset in response.answer:
            if rrset.rdtype == kind:
                found += [ipaddress.ip_address(r.address) for r in rrset]
        return response.rcode(), found

    async def _udp(
        self, server: tuple[IPAddress, int], query: dns.message.Message
    ) -> dns.message.Message:
        loop = asyncio.get_running_loop()
        with await connected_socket(self._sockets, *server, socket.SOCK_DGRAM) as sock:
            await loop.sock_sendall(sock, query.to_wire())
            while True:  # ignore stray datagrams that are not the answer to this query
                wire = await loop.sock_recv(sock, _MAX_UDP)
                try:
                    response = dns.message.from_wire(wire, ignore_trailing=True)
                except dns.exception.DNSException:
                    continue
                if query.is_response(response):
                    return response

    async def _tcp(
        self, server: tuple[IPAddress, int], query: dns.message.Message
    ) -> dns.message.Message:
        loop = asyncio.get_running_loop()
        with await connected_socket(self._sockets, *server, socket.SOCK_STREAM) as sock:
            wire = query.to_wire()
            await loop.sock_sendall(sock, struct.pack("!H", len(wire)) + wire)
            size = struct.unpack("!H", await _recv_exactly(loop, sock, 2))[0]
            response = dns.message.from_wire(await _recv_exactly(loop, sock, size))
        if not query.is_response(response):
            raise OSError("the TCP answer does not match the query")
        return response


async def connected_socket(
    sockets: SocketFactory, address: IPAddress, port: int, kind: int
) -> socket.socket:
    """A socket from `sockets` (so in its namespace), connected to `address`:`port`."""
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    sock = await sockets(family, kind)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (str(address), port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise OSError("the name server closed the connection early")
        data += chunk
    return data


async def _plain_socket(family: int, kind: int) -> socket.socket:
    sock = socket.socket(family, kind)
    sock.setblocking(False)
    return sock
