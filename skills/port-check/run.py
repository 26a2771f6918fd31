#!/usr/bin/env python3
"""port-check: can a TCP connection to host:port be opened (stdin: JSON input, stdout:
JSON result)? The connection is closed as soon as it stands; nothing is sent."""

import json
import os
import socket
import sys
import time
import urllib.parse


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def tunnel(host, port, timeout):
    """A TCP connection to host:port through the sandbox's egress proxy (HTTP CONNECT, RFC
    9110 9.3.6); a direct one when no proxy is set. Fails as egress_refused when the proxy
    refuses; returns (socket, None), or (None, reason) when the destination is unreachable."""
    proxy = urllib.parse.urlsplit(
        os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or ""
    )
    try:
        if not proxy.hostname:
            return socket.create_connection((host, port), timeout=timeout), None
        sock = socket.create_connection((proxy.hostname, proxy.port or 3128), timeout=timeout)
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("idna"))
    head = b""
    try:
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: what follows belongs to the peer
            byte = sock.recv(1)
            if not byte or len(head) > 16384:
                sock.close()
                return None, "the proxy closed the connection"
            head += byte
    except OSError as exc:
        sock.close()
        return None, f"{type(exc).__name__}: {exc}"
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    code = status[1] if len(status) > 1 else ""
    if code == "200":
        return sock, None
    sock.close()
    marks = [v.split(":", 1)[1].strip() for v in lines if v.lower().startswith("x-nexflow-egress:")]
    if code == "502" and marks and marks[0] in ("connect_failed", "dns_failed"):
        return None, f"{marks[0]}: {lines[0][:200]}"
    fail(
        "egress_refused", f"the egress proxy refused {authority}: {(marks or [lines[0]])[0][:200]}"
    )


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("target"), str):
        fail("bad_input", "input must be an object with a 'target' string")
    try:
        target = urllib.parse.urlsplit(data["target"])
        port = target.port
    except ValueError as exc:
        fail("bad_input", f"'target' is not tcp://host:port: {exc}")
    if target.scheme != "tcp" or not target.hostname or port is None:
        fail("bad_input", "'target' must be tcp://host:port")
    timeout = data.get("timeout_sec", 5)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 15:
        fail("bad_input", "'timeout_sec' must be a number from 1 to 15")
    started = time.monotonic()
    sock, problem = tunnel(target.hostname, port, float(timeout))
    latency = round((time.monotonic() - started) * 1000, 1)
    if sock is not None:
        sock.close()
    result = {
        "host": target.hostname,
        "port": port,
        "open": sock is not None,
        "latency_ms": latency,
    }
    if problem:
        result["problem"] = problem
    print(f"port-check: {target.hostname}:{port} {'open' if sock else 'closed'}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
