#!/usr/bin/env python3
"""dns-lookup: one DNS query over TCP to a granted server (stdin: JSON input, stdout: JSON
result). The answer is hostile: every offset is bounds-checked, compression pointers may
only point backwards, and at most 100 records are read."""

import contextlib
import ipaddress
import json
import os
import secrets
import socket
import struct
import sys
import urllib.parse

TYPES = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SRV": 33,
    "CAA": 257,
}
NAMES = {v: k for k, v in TYPES.items()}
RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]


class Malformed(Exception):
    pass


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


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            fail("bad_input", f"{name!r} is not a valid DNS name")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def read_name(msg, pos):
    """(name, position after it) with backward-only compression pointers."""
    labels, end, jumps = [], None, 0
    while True:
        if pos >= len(msg):
            raise Malformed("a name runs past the end")
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise Malformed("a cut compression pointer")
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            if target >= pos or jumps > 64:
                raise Malformed("a compression pointer loops")
            end = pos + 2 if end is None else end
            pos, jumps = target, jumps + 1
            continue
        if length & 0xC0:
            raise Malformed("an unknown label type")
        pos += 1
        if length == 0:
            return ".".join(labels) or ".", end if end is not None else pos
        labels.append(msg[pos : pos + length].decode("ascii", "replace"))
        pos += length
        if sum(len(lab) + 1 for lab in labels) > 255:
            raise Malformed("a name longer than 255 octets")


def rdata(msg, kind, start, length):
    data = msg[start : start + length]
    if len(data) != length:
        raise Malformed("record data runs past the end")
    if kind == 1 and length == 4:
        return str(ipaddress.IPv4Address(data))
    if kind == 28 and length == 16:
        return str(ipaddress.IPv6Address(data))
    if kind in (2, 5, 12):
        return read_name(msg, start)[0]
    if kind == 15 and length >= 3:
        return f"{struct.unpack('!H', data[:2])[0]} {read_name(msg, start + 2)[0]}"
    if kind == 16:
        parts, i = [], 0
        while i < length:
            parts.append(data[i + 1 : i + 1 + data[i]].decode("utf-8", "replace"))
            i += 1 + data[i]
        return "".join(parts)
    if kind == 33 and length >= 7:
        prio, weight, port = struct.unpack("!HHH", data[:6])
        return f"{prio} {weight} {port} {read_name(msg, start + 6)[0]}"
    if kind == 6:
        mname, pos = read_name(msg, start)
        rname, pos = read_name(msg, pos)
        serial, refresh, retry, expire, minimum = struct.unpack("!IIIII", msg[pos : pos + 20])
        return f"{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
    if kind == 257 and length >= 2:
        tag_len = data[1]
        tag = data[2 : 2 + tag_len].decode("ascii", "replace")
        return f"{data[0]} {tag} {data[2 + tag_len :].decode('utf-8', 'replace')!r}"
    return data.hex()


def parse(msg, query_id):
    if len(msg) < 12:
        raise Malformed("shorter than a DNS header")
    ident, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    if ident != query_id or not flags & 0x8000:
        raise Malformed("the answer does not match the query")
    pos = 12
    for _ in range(qd):
        pos = read_name(msg, pos)[1] + 4
    answers = []
    for _ in range(min(an, 100)):
        name, pos = read_name(msg, pos)
        if pos + 10 > len(msg):
            raise Malformed("a record header runs past the end")
        kind, _cls, ttl, length = struct.unpack("!HHIH", msg[pos : pos + 10])
        pos += 10
        answers.append(
            {
                "name": name,
                "type": NAMES.get(kind, str(kind)),
                "ttl": ttl,
                "data": rdata(msg, kind, pos, length)[:4096],
            }
        )
        pos += length
    rcode = flags & 0xF
    return RCODES[rcode] if rcode < len(RCODES) else str(rcode), bool(flags & 0x0400), answers


def recv_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise Malformed("the server closed the connection early")
        data += chunk
    return data


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("server"), str):
        fail("bad_input", "input must be an object with a 'server' string")
    try:
        server = urllib.parse.urlsplit(data["server"])
        port = server.port or 53
    except ValueError as exc:
        fail("bad_input", f"'server' is not dns://host[:port]: {exc}")
    if server.scheme != "dns" or not server.hostname:
        fail("bad_input", "'server' must be dns://host[:port]")
    kind = data.get("type", "A")
    if kind not in TYPES:
        fail("bad_input", f"'type' must be one of {', '.join(TYPES)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        fail("bad_input", "'name' must be a non-empty string")
    if kind == "PTR":
        with contextlib.suppress(ValueError):  # a name, not an address: asked as it is
            name = ipaddress.ip_address(name).reverse_pointer
    query_id = secrets.randbelow(65536)
    question = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + encode_name(name)
    question += struct.pack("!HH", TYPES[kind], 1)
    sock, problem = tunnel(server.hostname, port, float(data.get("timeout_sec", 5)))
    if sock is None:
        fail("unreachable", f"{server.hostname}:{port}: {problem}")
    try:
        with sock:
            sock.sendall(struct.pack("!H", len(question)) + question)
            (size,) = struct.unpack("!H", recv_exact(sock, 2))
            rcode, aa, answers = parse(recv_exact(sock, size), query_id)
    except Malformed as exc:
        fail("bad_answer", f"the server's answer is malformed: {exc}")
    except (OSError, struct.error) as exc:
        fail("unreachable", f"{server.hostname}:{port}: {type(exc).__name__}: {exc}")
    print(f"dns-lookup: {name} {kind} {rcode}, {len(answers)} answer(s)", file=sys.stderr)
    print(
        json.dumps(
            {"name": name, "type": kind, "rcode": rcode, "authoritative": aa, "answers": answers},
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
