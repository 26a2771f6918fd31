"""The egress proxy's added latency: the same HTTP GET made directly and through a proxy.

The proxy is the executor's own `CallProxy`, serving a loopback listener exactly as it
serves one inside a sandbox's namespace, with the destination granted by exact address.
The client is a separate process that alternates direct and proxied GETs (fresh
connection each, as the proxy handles one request per connection), so both series see
the same machine state. Figures: p50/p99 of each series and the added time at p50.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

from nexflow_executor.egress.grants import parse_grant
from nexflow_executor.egress.proxy import CallProxy, EgressRecord
from nexflow_executor.egress.resolver import SystemResolver
from nexflow_executor.settings import EgressSettings

from bench.stats import pct, summary

_BODY = b"x" * 1024
_CLIENT = r"""
import json, socket, sys, time
host, up_port, proxy_port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def get(port, target):
    t = time.perf_counter()
    with socket.create_connection((host, port)) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:80]
    return (time.perf_counter() - t) * 1000
direct, proxied = [], []
absolute = f"http://{host}:{up_port}/".encode()
for i in range(n + 20):
    d, p = get(up_port, b"/"), get(proxy_port, absolute)
    if i >= 20:  # warm-up
        direct.append(d); proxied.append(p)
print(json.dumps({"direct": direct, "proxied": proxied}))
"""


async def _upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n" + _BODY)
    await writer.drain()
    writer.close()


async def run(tmp: Path, scale: float) -> None:
    print("== egress: HTTP GET through the per-call proxy vs direct (loopback) ==")
    upstream = await asyncio.start_server(_upstream, "127.0.0.1", 0)
    up_port = upstream.sockets[0].getsockname()[1]

    async def drop(record: EgressRecord) -> None:
        return None

    proxy = CallProxy(
        [parse_grant(f"127.0.0.1:{up_port}")], SystemResolver(2), EgressSettings(), drop
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    proxy_port = listener.getsockname()[1]
    await proxy.serve(listener)
    n = max(50, int(500 * scale))
    try:
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CLIENT, "127.0.0.1", str(up_port), str(proxy_port), str(n),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await client.communicate()
    finally:
        await proxy.close()
        upstream.close()
    if client.returncode != 0:
        print("  client failed; no figures")
        return
    series = json.loads(out)
    direct, proxied = series["direct"], series["proxied"]
    print(summary("baseline: GET direct to the server", direct))
    print(summary("GET through the egress proxy", proxied))
    p50, base = pct(proxied, 50), pct(direct, 50)
    print(f"  added at p50: {p50 - base:.3f} ms   ratio at p50: {p50 / base:.1f}x")
