"""The proxy's rules without a sandbox: grant grammar, address classes, request parsing,
and one in-process proxy on loopback for the limits and malformed input."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
from nexflow_executor.egress.addresses import refusal
from nexflow_executor.egress.grants import parse_grant
from nexflow_executor.egress.http import BadRequest, parse_head
from nexflow_executor.egress.proxy import CallProxy, EgressRecord
from nexflow_executor.egress.resolver import SystemResolver
from nexflow_executor.settings import EgressSettings


@pytest.mark.parametrize(
    ("grant", "host", "port", "expected"),
    [
        ("api.example.com:443", "api.example.com", 443, True),
        ("api.example.com:443", "api.example.com", 80, False),
        ("API.Example.COM.:443", "api.example.com", 443, True),
        ("api.example.com", "api.example.com", 80, True),
        ("api.example.com", "api.example.com", 443, True),
        ("api.example.com", "api.example.com", 8080, False),
        ("api.example.com:*", "api.example.com", 8080, True),
        ("*.example.com:443", "a.example.com", 443, True),
        ("*.example.com:443", "a.b.example.com", 443, True),
        ("*.example.com:443", "example.com", 443, False),
        ("*.example.com:443", "evilexample.com", 443, False),
        ("*.example.com:443", "example.com.evil.net", 443, False),
        ("api.example.com:443", "evil-api.example.com", 443, False),
        ("bücher.example:443", "xn--bcher-kva.example", 443, True),
    ],
)
def test_grant_matching(grant: str, host: str, port: int, expected: bool) -> None:
    """Names match exactly or below a wildcard; ports exactly, web ports, or any."""
    assert parse_grant(grant).matches(host, port) is expected


def test_address_grant_matches_only_that_address() -> None:
    """An address literal grant admits that address and port only, never a name."""
    grant = parse_grant("[fd00::1]:443")
    assert grant.matches(ipaddress.ip_address("fd00::1"), 443)
    assert not grant.matches(ipaddress.ip_address("fd00::2"), 443)
    assert not grant.matches("fd00-1.example", 443)
    assert grant.names_address(ipaddress.ip_address("fd00::1"), 443)
    assert not parse_grant("api.example.com:443").names_address(
        ipaddress.ip_address("1.1.1.1"), 443
    )


@pytest.mark.parametrize(
    "bad",
    ["", "*.com", "*.10.0.0.1", "a b", "host:0", "host:70000", "2130706433", "0x7f.1",
     "[::1", "http://x", "a..b", "x" * 300, "*."],
)  # fmt: skip
def test_malformed_grants_are_refused(bad: str) -> None:
    """Grants that are not host[:port] (or would be read as addresses) are refused."""
    with pytest.raises(ValueError):
        parse_grant(bad)


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "unique_local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.100.100.200", "shared"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link_local"),
        ("64:ff9b::a9fe:a9fe", "link_local"),
        ("2002:7f00:1::1", "loopback"),
        ("240.0.0.1", "private"),
    ],
)
def test_address_categories(address: str, category: str | None) -> None:
    """Non-global destinations are refused by category, IPv4 inside IPv6 included."""
    assert refusal(ipaddress.ip_address(address)) == category


def test_plain_request_is_rewritten_to_origin_form() -> None:
    """Host is the decided authority; Proxy-* and Connection-named headers are dropped."""
    head = (
        b"POST http://API.test:8080/p?q=1 HTTP/1.1\r\nHost: evil.test\r\n"
        b"Proxy-Authorization: Basic eA==\r\nConnection: keep-alive, X-Secret\r\n"
        b"X-Secret: 1\r\nContent-Length: 3\r\n\r\n"
    )
    request = parse_head(head)
    assert (request.host, request.port, request.tunnel) == ("api.test", 8080, False)
    lines = request.head.split(b"\r\n")
    assert lines[0] == b"POST /p?q=1 HTTP/1.1"
    assert b"Host: api.test:8080" in lines and b"Connection: close" in lines
    assert b"Content-Length: 3" in lines
    assert not [
        line for line in lines if line.lower().startswith((b"proxy-", b"x-secret", b"host: evil"))
    ]


def test_connect_request_names_host_and_port() -> None:
    """CONNECT's authority is the decision; IPv6 literals in brackets work."""
    assert parse_head(b"CONNECT api.test:443 HTTP/1.1\r\n\r\n").port == 443
    request = parse_head(b"CONNECT [2606:4700::1]:8443 HTTP/1.1\r\n\r\n")
    assert (
        request.host == ipaddress.ip_address("2606:4700::1")
        and request.authority == "[2606:4700::1]:8443"
    )


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET https://api.test/ HTTP/1.1\r\n\r\n",
        b"GET http://user@api.test/ HTTP/1.1\r\n\r\n",
        b"CONNECT api.test HTTP/1.1\r\n\r\n",
        b"GET http://api.test/ HTTP/2.0\r\n\r\n",
        b"GET http://api.test/ HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        b"GET http://api.test:99999/ HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\r\n\r\n",
    ],
)
def test_unusable_requests_are_bad(head: bytes) -> None:
    """Origin-form, https without CONNECT, userinfo, bad ports and garbage are refused."""
    with pytest.raises(BadRequest):
        parse_head(head)


class _Upstream:
    """A loopback server that answers every request with 'ok' and counts them."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(65536)
        self.requests.append(data)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()


@pytest.fixture
async def proxied() -> AsyncIterator[tuple[int, int, list[EgressRecord], CallProxy, _Upstream]]:
    """A CallProxy on a loopback port, granted only a loopback upstream by exact address."""
    upstream = _Upstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    up_port = server.sockets[0].getsockname()[1]
    records: list[EgressRecord] = []

    async def keep(record: EgressRecord) -> None:
        records.append(record)

    settings = EgressSettings(max_connections=2, max_records=3, header_timeout_s=0.5)
    proxy = CallProxy([parse_grant(f"127.0.0.1:{up_port}")], SystemResolver(2), settings, keep)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    await proxy.serve(listener)
    try:
        yield port, up_port, records, proxy, upstream
    finally:
        await proxy.close()
        server.close()


async def _ask(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_pipelined_second_request_is_not_forwarded_as_a_request(proxied) -> None:
    """Only the first request of a connection is decided and sent with Connection: close."""
    port, up_port, _records, _proxy, upstream = proxied
    second = b"GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n"
    first = f"GET http://127.0.0.1:{up_port}/ HTTP/1.1\r\n\r\n".encode()
    answer = await _ask(port, first + second)
    assert answer.endswith(b"ok")
    assert len(upstream.requests) == 1 and b"Connection: close" in upstream.requests[0]


async def test_garbage_and_silence_are_bad_requests(proxied) -> None:
    """Garbage gets 400 and a record; a head that never comes times out as bad_request."""
    port, _, records, _proxy, _ = proxied
    assert b"400" in await _ask(port, b"\x16\x03\x01garbage\r\n\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET http://127.0.0.1/ HTTP/1.1\r\n")  # never finished
    assert b"400" in await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await asyncio.sleep(0.05)
    assert [r.reason for r in records] == ["bad_request", "bad_request"]


async def test_connections_beyond_the_limit_are_refused(proxied) -> None:
    """With max_connections open, the next one gets 503 too_many_connections."""
    port, up_port, _records, _proxy, _ = proxied
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    answer = await _ask(port, f"GET http://127.0.0.1:{up_port}/ HTTP/1.1\r\n\r\n".encode())
    assert b"503" in answer and b"too_many_connections" in answer
    for _, writer in idle:
        writer.close()


async def test_records_beyond_the_cap_are_counted(proxied) -> None:
    """Past max_records attempts are counted in `dropped`, not itemised."""
    port, _up_port, records, proxy, _ = proxied
    for _ in range(5):
        await _ask(port, b"GET http://not-granted.test/ HTTP/1.1\r\n\r\n")
    await asyncio.sleep(0.05)
    assert (len(records), proxy.dropped) == (3, 2)
    assert [r.seq for r in records] == [1, 2, 3]  # numbered in connection order
