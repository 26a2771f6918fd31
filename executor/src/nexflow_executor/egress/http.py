"""The one HTTP request head a sandbox sends the proxy: parsed, judged, rewritten.

Two forms are accepted (RFC 9110/9112): `CONNECT host:port` for TLS (the proxy never
sees inside), and absolute-form `METHOD http://host[:port]/path` for plain HTTP. An
`https://` URL without CONNECT, an origin-form request (`GET /`), and anything malformed
are refused. A forwarded plain request goes out in origin form with `Host` set to the
authority the decision was made on, hop-by-hop and Proxy-* headers removed, and
`Connection: close`: one request per connection, so a second request on a kept-alive
connection can never ride on the first one's decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from nexflow_executor.egress.grants import IPAddress, canonical_host

__all__ = ["BadRequest", "ProxyRequest", "format_authority", "parse_head", "refusal_response"]

_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HOP_BY_HOP = {
    b"connection",
    b"proxy-connection",
    b"keep-alive",
    b"proxy-authorization",
    b"proxy-authenticate",
    b"te",
    b"trailer",
    b"upgrade",
}
_STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Unavailable"}


class BadRequest(Exception):
    """The head is not a proxy request this proxy serves; the message says why."""


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """A parsed request: where it wants to go and, for plain HTTP, the head to send there."""

    method: str
    host: str | IPAddress  # canonical (grants.canonical_host)
    port: int
    authority: str  # host[:port] as the Host header will carry it
    head: bytes  # the rewritten head to forward; b"" for CONNECT

    @property
    def tunnel(self) -> bool:
        return self.method == "CONNECT"


def _split_authority(authority: str, default_port: int | None) -> tuple[str, int]:
    host, port_text = authority, ""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise BadRequest(f"malformed authority {authority[:100]!r}")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise BadRequest(f"malformed authority {authority[:100]!r}")
            port_text = rest[1:]
    elif ":" in authority:
        host, _, port_text = authority.rpartition(":")
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise BadRequest(f"bad port in {authority[:100]!r}")
        return host, int(port_text)
    if default_port is None:
        raise BadRequest(f"CONNECT needs host:port, not {authority[:100]!r}")
    return host, default_port


def _canonical(host: str) -> str | IPAddress:
    try:
        return canonical_host(host)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


def parse_head(head: bytes) -> ProxyRequest:
    """Parse a request head (up to and including the blank line); BadRequest if unusable."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise BadRequest("the request line is not METHOD TARGET HTTP/1.x")
    method, target, version = parts[0].decode(), parts[1].decode("latin-1"), parts[2]
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            raise BadRequest("folded header lines are not accepted")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise BadRequest("malformed header line")
        headers.append((name, value.strip()))
    if method == "CONNECT":
        host, port = _split_authority(target, None)
        canonical = _canonical(host)
        return ProxyRequest(method, canonical, port, format_authority(canonical, port), b"")
    lowered = target.lower()
    if lowered.startswith("https://"):
        raise BadRequest("https:// URLs go through CONNECT (set HTTPS_PROXY)")
    if not lowered.startswith("http://"):
        raise BadRequest("a proxy request needs an absolute http:// URL or CONNECT")
    url = urlsplit(target)
    if "@" in url.netloc:
        raise BadRequest("user information in the URL is not accepted")
    if not url.netloc:
        raise BadRequest("the URL has no host")
    host, port = _split_authority(url.netloc, 80)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    canonical = _canonical(host)
    authority = format_authority(canonical, None if port == 80 else port)
    head_out = _rewrite(method, path, version, headers, authority)
    return ProxyRequest(method, canonical, port, authority, head_out)


def format_authority(host: str | IPAddress, port: int | None) -> str:
    """`host`, `host:port` or `[v6]:port`, in canonical form."""
    text = f"[{host}]" if not isinstance(host, str) and host.version == 6 else str(host)
    return text if port is None else f"{text}:{port}"


def _rewrite(
    method: str, path: str, version: bytes, headers: list[tuple[bytes, bytes]], authority: str
) -> bytes:
    named_hop = {b"connection", b"proxy-connection"}
    dropped = set(_HOP_BY_HOP)
    for name, value in headers:
        if name.lower() in named_hop:  # Connection: x, y also makes x and y hop-by-hop
            dropped |= {v.strip().lower() for v in value.split(b",") if v.strip()}
    out = [f"{method} {path} ".encode("latin-1") + version, b"Host: " + authority.encode()]
    out += [n + b": " + v for n, v in headers if n.lower() not in dropped and n.lower() != b"host"]
    out += [b"Connection: close", b"", b""]
    return b"\r\n".join(out)


def refusal_response(status: int, reason: str, message: str) -> bytes:
    """A short plain-text answer the sandbox's client can show; `reason` in a header too."""
    body = f"nexflow egress: {message} ({reason})\n".encode()
    head = (
        f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Error')}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"X-Nexflow-Egress: {reason}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
