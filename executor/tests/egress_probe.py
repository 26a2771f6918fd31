"""Runs inside a sandbox: tries what stdin asks (a JSON list of actions), prints the results.

Actions: ["fetch", url, method?, follow?], ["tcp", host, port], ["udp", host, port],
["dns", name], ["dnsquery", server, name], ["icmp", host], ["env", name], ["sleep", s].
Every result is a JSON value; failures are strings starting with "error:".
"""

import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, method="GET", follow=True):
    handlers = [] if follow else [_NoRedirect()]
    opener = urllib.request.build_opener(*handlers)
    data = b"probe-body" if method in ("POST", "PUT") else None
    try:
        with opener.open(urllib.request.Request(url, data=data, method=method), timeout=10) as r:
            return {"status": r.status, "body": r.read().decode(), "headers": dict(r.headers)}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode(), "headers": dict(e.headers)}
    except Exception as e:
        return f"error: {type(e).__name__}: {e}"


def tcp(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "connected"
    except OSError as e:
        return f"error: {e}"


def udp(host, port):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"exfiltrate", (host, port))
        return "sent"
    except OSError as e:
        return f"error: {e}"


def dns(name):
    try:
        return sorted({i[4][0] for i in socket.getaddrinfo(name, 80)})
    except OSError as e:
        return f"error: {e}"


def dnsquery(server, name):
    """A hand-made DNS query straight to a name server, bypassing any resolver config."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    packet = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + b"\0\0\1\0\1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(packet, (server, 53))
            return f"answered {len(s.recv(512))} bytes"
    except OSError as e:
        return f"error: {e}"


def icmp(host):
    echo = struct.pack("!BBHHH", 8, 0, 0xF7FF, 0, 0)
    results = []
    for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        try:
            with socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP) as s:
                s.sendto(echo, (host, 0))
            results.append("sent")
        except OSError as e:
            results.append(f"error: {e}")
    return results


def main():
    out = []
    for action in json.load(sys.stdin):
        name, args = action[0], action[1:]
        if name == "env":
            out.append(os.environ.get(args[0]))
        elif name == "sleep":
            time.sleep(args[0])
            out.append(None)
        else:
            out.append(globals()[name](*args))
    print(json.dumps(out))


main()
