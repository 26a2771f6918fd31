"""One local HTTP server that speaks what the network skills talk to, for their tests.

Pages, feeds and health endpoints, plus small but faithful subsets of three real APIs:
Prometheus' `/api/v1/query` and `/api/v1/query_range` (selectors with exact label
matchers over an in-memory series set; anything else is the `bad_data` error Prometheus
gives), Loki's `/loki/api/v1/query_range` (a stream selector and `|=` line filters;
`limit`, `direction`) and Alertmanager's v2 silences (create, list, expire, with the
validation Alertmanager does); GitHub and GitLab in tests/skill_forge_fakes.py. Every
request is recorded in `requests`.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests import skill_forge_fakes, skill_forge_writes, skill_ha_fake

PAGE = b"""<!doctype html><html><head><title>Release notes</title>
<style>body { color: red }</style><script>document.write("tracking")</script></head>
<body><nav><a href="/">Home</a></nav><h1>Version 2.0</h1>
<p>Faster &amp; smaller.</p><p>See the <a href="/changes.html">full list</a>.</p>
<noscript>enable js</noscript><template><p>hidden</p></template></body></html>"""

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Example blog</title>
<link>http://blog.test/</link>
<item><title>Release 2.0</title><link>http://blog.test/2.0</link><guid>r2</guid>
<pubDate>Mon, 07 Dec 2026 10:00:00 GMT</pubDate>
<description>&lt;b&gt;Big&lt;/b&gt; news</description></item>
<item><title>Release 1.0</title><link>http://blog.test/1.0</link><guid>r1</guid>
<pubDate>Sun, 06 Dec 2026 10:00:00 GMT</pubDate><description>First</description></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Atom news</title><link href="http://atom.test/"/><id>urn:feed</id>
<entry><title>Hello</title><link rel="alternate" href="http://atom.test/hello"/>
<id>urn:e1</id><updated>2026-12-07T10:00:00Z</updated><summary>Hi there</summary></entry>
</feed>"""

LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>&lol3;</title></channel></rss>"""

_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?:\{(.*)\})?\s*$")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _matchers(text: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _MATCHER.match(text, pos)
        if m is None:
            return None
        out[m.group(1)] = m.group(2)
        pos = m.end()
    return out


@dataclass
class Fakes:
    """The state behind the server: series, log lines, silences, and what was asked."""

    series: list[tuple[dict[str, str], float]] = field(default_factory=list)
    logs: list[tuple[dict[str, str], int, str]] = field(default_factory=list)
    silences: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    forge_created: list[dict[str, Any]] = field(default_factory=list)
    home: dict[str, dict[str, Any]] = field(default_factory=skill_ha_fake.entities)

    def select(self, query: str) -> list[tuple[dict[str, str], float]] | None:
        m = _SELECTOR.match(query)
        if m is None or not (m.group(1) or m.group(2)):
            return None
        wanted = _matchers(m.group(2) or "")
        if wanted is None:
            return None
        if m.group(1):
            wanted["__name__"] = m.group(1)
        return [(m, v) for m, v in self.series if all(m.get(k) == w for k, w in wanted.items())]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode())

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self) -> None:
        url = urlsplit(self.path)
        body = self._body() if self.command in ("POST", "PUT") else b""
        self.server.fakes.requests.append((self.command, self.path, body))
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if self.command == "POST" and body:
            params.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
        static = {
            "/page.html": (PAGE, "text/html; charset=utf-8"),
            "/feed.rss": (RSS, "application/rss+xml"),
            "/feed.atom": (ATOM, "application/atom+xml"),
            "/laughs.rss": (LAUGHS, "application/rss+xml"),
            "/health": (b"status: OK", "text/plain"),
            "/data.json": (b'{"a": 1}', "application/json"),
        }
        if url.path in static:
            return self._send(200, *static[url.path])
        if url.path == "/down":
            return self._send(503, b"maintenance", "text/plain")
        if url.path == "/redirect-away":
            self.send_response(302)
            self.send_header("Location", params.get("to", "http://127.0.0.2/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if url.path in ("/api/v1/query", "/api/v1/query_range"):
            return self._prometheus(url.path.endswith("_range"), params)
        if url.path == "/loki/api/v1/query_range":
            return self._loki(params)
        if url.path.startswith("/api/v2/silence"):
            return self._alertmanager(url.path, body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        home = skill_ha_fake.answer(self.server.fakes.home, self.command, url.path, body, headers)
        if home is not None:
            return self._json(*home)
        if self.command == "POST":
            created = self.server.fakes.forge_created
            forge = skill_forge_writes.write(url.path, body, headers, created)
        else:
            forge = skill_forge_fakes.answer(url.path, params, headers)
        if forge is not None:
            return self._json(*forge)
        return self._send(404, b"not found", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _route

    def _prometheus(self, ranged: bool, params: dict[str, str]) -> None:
        found = self.server.fakes.select(params.get("query", ""))
        if found is None:
            return self._json(
                400,
                {
                    "status": "error",
                    "errorType": "bad_data",
                    "error": "1:1: parse error: unexpected character",
                },
            )
        now = float(params.get("time", time.time()))
        if not ranged:
            result = [{"metric": m, "value": [now, repr(v)]} for m, v in found]
            return self._json(
                200, {"status": "success", "data": {"resultType": "vector", "result": result}}
            )
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        points = [start + i * step for i in range(int((end - start) / step) + 1)]
        result = [{"metric": m, "values": [[t, repr(v)] for t in points]} for m, v in found]
        return self._json(
            200, {"status": "success", "data": {"resultType": "matrix", "result": result}}
        )

    def _loki(self, params: dict[str, str]) -> None:
        query = params.get("query", "")
        m = re.match(r"^\s*\{(.*?)\}((?:\s*\|=\s*\"[^\"]*\")*)\s*$", query)
        wanted = _matchers(m.group(1)) if m else None
        if m is None or not wanted:
            return self._send(
                400, b"parse error : syntax error: unexpected IDENTIFIER", "text/plain"
            )
        filters = re.findall(r'\|=\s*"([^"]*)"', m.group(2))
        limit = int(params.get("limit", "100"))
        rows = [
            r
            for r in self.server.fakes.logs
            if all(r[0].get(k) == v for k, v in wanted.items()) and all(f in r[2] for f in filters)
        ]
        rows.sort(key=lambda r: r[1], reverse=params.get("direction", "backward") == "backward")
        streams: dict[str, dict[str, Any]] = {}
        for labels, ts, line in rows[:limit]:
            key = json.dumps(labels, sort_keys=True)
            streams.setdefault(key, {"stream": labels, "values": []})["values"].append(
                [str(ts), line]
            )
        data = {"resultType": "streams", "result": list(streams.values())}
        return self._json(200, {"status": "success", "data": data})

    def _alertmanager(self, path: str, body: bytes) -> None:
        silences = self.server.fakes.silences
        if path == "/api/v2/silences" and self.command == "GET":
            return self._json(200, list(silences.values()))
        if path == "/api/v2/silences" and self.command == "POST":
            try:
                value = json.loads(body)
                assert value["matchers"] and value["endsAt"] > value["startsAt"]
                assert all({"name", "value", "isRegex"} <= set(m) for m in value["matchers"])
                assert value["createdBy"] and value["comment"]
            except (ValueError, KeyError, TypeError, AssertionError):
                return self._send(400, b'"invalid silence"', "application/json")
            sid = str(uuid.uuid4())
            silences[sid] = {**value, "id": sid, "status": {"state": "active"}}
            return self._json(200, {"silenceID": sid})
        sid = path.rsplit("/", 1)[-1]
        if self.command == "DELETE" and path.startswith("/api/v2/silence/"):
            if sid not in silences:
                return self._send(404, b'"silence not found"', "application/json")
            silences[sid]["status"] = {"state": "expired"}
            return self._json(200, {})
        return self._send(405, b"method not allowed", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fakes: Fakes


@dataclass
class FakeServer:
    """The running server: its base URL and state; `close()` stops it."""

    fakes: Fakes
    httpd: _Server

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(fakes: Fakes | None = None) -> FakeServer:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.fakes = fakes or Fakes()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return FakeServer(httpd.fakes, httpd)
