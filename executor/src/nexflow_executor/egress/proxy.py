"""One call's egress proxy: decides each connection on that call's grants alone.

For every connection the sandbox opens to it, the proxy reads one request head
(http.py), matches the host and port against the call's grants (grants.py), resolves
the name itself, refuses if any address is one the defaults forbid and no grant names
exactly (addresses.py), connects to an address it checked — never re-resolving, so
there is no rebinding window — and then relays bytes: a CONNECT tunnel untouched, a
plain HTTP request rewritten to origin form.

Every attempt, allowed or refused, becomes one `EgressRecord`, handed to `on_record`
when the connection ends; past `max_records` they are only counted (`dropped`). At most
`max_connections` are open at once; more are refused. `close()` ends everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from nexflow_executor.egress.addresses import refusal
from nexflow_executor.egress.grants import HostGrant, IPAddress
from nexflow_executor.egress.http import BadRequest, ProxyRequest, parse_head, refusal_response
from nexflow_executor.egress.resolver import (
    ResolveError,
    Resolver,
    SocketFactory,
    connected_socket,
)
from nexflow_executor.settings import EgressSettings

__all__ = ["CallProxy", "EgressRecord"]

log = structlog.get_logger("nexflow_executor")
_CHUNK = 64 * 1024


@dataclass(slots=True)
class EgressRecord:
    """One connection attempt through the proxy and what became of it."""

    method: str
    host: str  # canonical host as requested ("" when the request could not be parsed)
    port: int
    address: str = ""  # the address connected to (or refused), "" when none was reached
    allowed: bool = False
    reason: str = ""  # "granted", or why it was refused (a stable code)
    grant: str = ""  # the grant that admitted it
    bytes_up: int = 0  # sandbox → destination
    bytes_down: int = 0  # destination → sandbox
    started_at_unix_ms: int = 0
    duration_ms: int = 0
    seq: int = 0  # the attempt's number within the call, in connection order


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class CallProxy:
    """Serves one call's listening socket(s); see the module docstring."""

    def __init__(
        self,
        grants: Sequence[HostGrant],
        resolver: Resolver,
        settings: EgressSettings,
        on_record: Callable[[EgressRecord], Awaitable[None]],
        sockets: SocketFactory | None = None,
    ) -> None:
        self._grants = tuple(grants)
        self._resolver = resolver
        self._settings = settings
        self._on_record = on_record
        self._sockets = sockets
        self._servers: list[asyncio.Server] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        self.recorded = 0
        self.dropped = 0
        self._accepted = 0

    async def serve(self, listener: socket.socket) -> None:
        """Accept connections on `listener` (the proxy now owns it)."""
        server = await asyncio.start_server(
            self._accept, sock=listener, limit=self._settings.max_header_bytes
        )
        self._servers.append(server)

    async def close(self) -> None:
        """Stop accepting, end every open connection, and deliver their records."""
        self._closing = True
        for server in self._servers:
            server.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._closing:
            writer.close()
            return
        self._handlers.add(task)
        self._accepted += 1
        record = EgressRecord(
            "", "", 0, started_at_unix_ms=time.time_ns() // 1_000_000, seq=self._accepted
        )
        begin = time.monotonic()
        try:
            over_limit = len(self._handlers) > self._settings.max_connections
            await self._serve_one(reader, writer, record, over_limit=over_limit)
        except asyncio.CancelledError:
            pass  # the call ended: the record says how far it got
        except Exception:
            log.exception("executor.egress_error")
            record.reason = record.reason or "proxy_error"
        finally:
            writer.close()
            record.duration_ms = int((time.monotonic() - begin) * 1000)
            self._handlers.discard(task)
            await self._deliver(record)

    async def _deliver(self, record: EgressRecord) -> None:
        if not record.host and record.reason == "no_request":
            return  # connected and left without asking for anything: nothing to record
        if self.recorded >= self._settings.max_records:
            self.dropped += 1
            return
        self.recorded += 1
        with contextlib.suppress(Exception):
            await self._on_record(record)

    async def _serve_one(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: EgressRecord,
        *,
        over_limit: bool,
    ) -> None:
        try:
            request = await self._read_request(reader, record)
            if over_limit:
                raise _Refused(503, "too_many_connections", "too many open connections")
            upstream = await self._open(request, record)
        except _Refused as refused:
            record.reason = refused.reason
            with contextlib.suppress(ConnectionError):
                writer.write(refusal_response(refused.status, refused.reason, refused.message))
                await writer.drain()
            return
        up_reader, up_writer = upstream
        record.allowed, record.reason = True, "granted"
        try:
            if request.tunnel:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                up_writer.write(request.head)
                record.bytes_up += len(request.head)
            await self._relay(reader, writer, up_reader, up_writer, record, request.tunnel)
        finally:
            up_writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, record: EgressRecord
    ) -> ProxyRequest:
        try:
            head = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), self._settings.header_timeout_s
            )
        except asyncio.IncompleteReadError as exc:
            reason = "bad_request" if exc.partial else "no_request"
            raise _Refused(400, reason, "no complete request head") from exc
        except asyncio.LimitOverrunError as exc:
            raise _Refused(400, "bad_request", "the request head is too large") from exc
        except TimeoutError as exc:
            raise _Refused(400, "bad_request", "no request head in time") from exc
        try:
            request = parse_head(head)
        except BadRequest as exc:
            raise _Refused(400, "bad_request", str(exc)) from exc
        record.method, record.host, record.port = request.method, str(request.host), request.port
        return request

    def _grant_for(self, request: ProxyRequest) -> HostGrant:
        for grant in self._grants:
            if grant.matches(request.host, request.port):
                return grant
        raise _Refused(403, "host_not_granted", f"{request.authority} is not granted to this call")

    async def _addresses(self, request: ProxyRequest, record: EgressRecord) -> list[IPAddress]:
        if isinstance(request.host, str):
            try:
                addresses = await self._resolver.resolve(request.host)
            except ResolveError as exc:
                raise _Refused(502, "dns_failed", str(exc)) from exc
        else:
            addresses = [request.host]
        for address in addresses:
            category = refusal(address)
            if category and not any(g.names_address(address, request.port) for g in self._grants):
                record.address = str(address)
                raise _Refused(
                    403,
                    f"address_{category}",
                    f"{request.authority} resolves to {address}, a {category.replace('_', '-')}"
                    " address; only a grant naming that exact address admits it",
                )
        return addresses

    async def _open(
        self, request: ProxyRequest, record: EgressRecord
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        grant = self._grant_for(request)
        record.grant = grant.text
        addresses = await self._addresses(request, record)
        problem = "no address"
        for address in addresses:
            try:
                opened = await asyncio.wait_for(
                    self._connect(address, request.port), self._settings.connect_timeout_s
                )
            except TimeoutError:
                problem = f"connecting to {address} timed out"
                continue
            except OSError as exc:
                problem = f"connecting to {address} failed: {exc.strerror or exc}"
                continue
            record.address = str(address)
            return opened
        raise _Refused(502, "connect_failed", f"{request.authority}: {problem}")

    async def _connect(
        self, address: IPAddress, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._sockets is None:
            return await asyncio.open_connection(str(address), port, limit=_CHUNK)
        sock = await connected_socket(self._sockets, address, port, socket.SOCK_STREAM)
        return await asyncio.open_connection(sock=sock, limit=_CHUNK)

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        record: EgressRecord,
        tunnel: bool,
    ) -> None:
        """Copy both ways. A tunnel lasts until both sides are done; a plain request
        ends when the destination has sent its answer and closed (Connection: close)."""

        def count_up(n: int) -> None:
            record.bytes_up += n

        def count_down(n: int) -> None:
            record.bytes_down += n

        up = asyncio.create_task(_copy(reader, up_writer, count_up))
        down = asyncio.create_task(_copy(up_reader, writer, count_down))
        try:
            if tunnel:
                await asyncio.gather(up, down)
            else:
                await down
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)


async def _copy(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: Callable[[int], None]
) -> None:
    try:
        while chunk := await src.read(_CHUNK):
            dst.write(chunk)
            count(len(chunk))
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError):
        return
