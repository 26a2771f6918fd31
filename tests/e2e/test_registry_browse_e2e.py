"""Browsing a registry through the control plane (`/api/v1/marketplace/search` and
`/packages/{name}`) on a real `nexflow up` against a real `nexflow-registry serve`, and
against a hostile registry (a local HTTP server answering what it likes): search by name,
text and tag in pages; a package's versions, requests, scan and signature as this home's
trust store judges them; malformed, oversized and unreachable registries answered with
stable codes; and `nexflow registry keys --registry` sending its URL intact."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from nexflow_registry import signing

from registry.tests.server import Server, publish, skill_copy
from tests.harness import Stack, free_port, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("registry-browse-e2e")]

SEARCH = "/api/v1/marketplace/search"


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browse")


@pytest.fixture(scope="module")
def stack(tmp: Path, registry: tuple[Server, str, Path]) -> Iterator[Stack]:
    """A control plane whose configured registry is the real one."""
    s = start_stack(
        tmp / "cp",
        "--sandbox",
        "nsjail",
        env={"NEXFLOW_MARKETPLACE__REGISTRY_URL": registry[0].url},
    )
    yield s
    s.stop()


def _publish(
    reg: tuple[Server, str, Path],
    tmp: Path,
    name: str,
    version: str,
    *,
    front: str = "permissions: []\n",
    tags: str = "[debug, test]",
    run_extra: str = "",
    key: Path | None = None,
) -> dict[str, Any]:
    server, token, acme = reg
    folder = skill_copy(tmp, version, name=name)
    md = folder / "SKILL.md"
    md.write_text(
        md.read_text()
        .replace("permissions: []\n", front, 1)
        .replace("tags: [debug, test]", f"tags: {tags}", 1)
    )
    if run_extra:
        (folder / "run.py").write_text((folder / "run.py").read_text() + run_extra)
    reply = publish(server, token, folder, key or acme)
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_search_by_name_text_and_tag_in_pages(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """The proxy answers what the registry's own search answers, page by page (cursor), by
    text and by exact tag; the page size is bounded (422 past 100)."""
    for i in range(5):
        _publish(registry, tmp, f"csv-tool-{i}", "1.0.0", tags="[csv, data]")
    _publish(registry, tmp, "report-maker", "1.0.0", tags="[pdf]")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "csv", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = stack.client.get(SEARCH, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["registry"] == registry[0].url and len(body["results"]) <= 2
        seen += [h["name"] for h in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"csv-tool-{i}" for i in range(5)]
    tagged = stack.client.get(SEARCH, params={"tag": "pdf"}).json()["results"]
    assert [h["name"] for h in tagged] == ["report-maker"]
    assert tagged[0]["publisher"] == "acme" and tagged[0]["version"] == "1.0.0"
    text = stack.client.get(SEARCH, params={"q": "INPUT OBJECT UNCHANGED"}).json()["results"]
    assert {"csv-tool-0", "report-maker"} <= {h["name"] for h in text}
    for bad in ({"limit": 101}, {"cursor": "abc"}, {"q": "x" * 201}):
        refused = stack.client.get(SEARCH, params=bad)
        assert refused.status_code == 422, refused.text


def test_a_package_page_shows_versions_requests_scan_signature_and_install_state(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """Yanked and removed versions are marked (with the removal's reason); the latest
    version's hosts, paths, permissions and secrets; a `warn` scan with its finding; the key
    not pinned until an install pins it, then trusted and publisher-verified; the action
    goes install → installed → update as versions arrive."""
    server = registry[0]
    front = (
        "permissions: [network, filesystem]\nsandbox:\n  network: [api.example.com]\n"
        "  filesystem:\n    - {path: /data, mode: ro}\n"
    )
    _publish(registry, tmp, "weather", "1.0.0", front=front)
    _publish(registry, tmp, "weather", "1.1.0", front=front)
    _publish(
        registry,
        tmp,
        "weather",
        "1.2.0",
        front=front,
        run_extra="import os\n_ = os.environ.get('SNEAKY_TOKEN')\n",
    )
    admin = server.auth(server.admin)
    assert (
        server.client.post(
            "/api/v1/packages/weather/1.1.0/yank", json={"reason": "broken parser"}, headers=admin
        ).status_code
        == 204
    )
    assert (
        server.client.post(
            "/api/v1/packages/weather/1.0.0/remove", json={"reason": "leaked a key"}, headers=admin
        ).status_code
        == 200
    )
    page = stack.client.get("/api/v1/marketplace/packages/weather")
    assert page.status_code == 200, page.text
    p = page.json()
    assert (p["name"], p["latest"], p["shown"], p["publisher"]) == (
        "weather",
        "1.2.0",
        "1.2.0",
        "acme",
    )
    by = {v["version"]: v for v in p["versions"]}
    assert by["1.1.0"]["yanked"] and by["1.1.0"]["yank_reason"] == "broken parser"
    assert by["1.0.0"]["removed"] and by["1.0.0"]["removed_reason"] == "leaked a key"
    assert p["requests"]["hosts"] == ["api.example.com"]
    assert p["requests"]["paths"] == ["/data (ro)"] and p["requests"]["permissions"] == [
        "filesystem",
        "network",
    ]
    assert p["scan_verdict"] == "warn"
    assert [f["rule"] for f in p["scan_findings"]] == ["undeclared_env"]
    pub = (registry[2].with_suffix(".pub")).read_text().strip()
    sig = p["signature"]
    assert sig["key_id"] == signing.key_id(pub) and sig["key_status"] == "not_pinned"
    assert sig["valid"] is True and p["publisher_verified"] is False
    assert p["installed"] is None and p["action"] == "install"

    done = stack.client.post("/api/v1/marketplace/install", json={"spec": "weather"})
    assert done.status_code == 200, done.text
    p = stack.client.get("/api/v1/marketplace/packages/weather").json()
    assert p["signature"]["key_status"] == "trusted" and p["publisher_verified"] is True
    assert p["installed"]["version"] == "1.2.0" and p["action"] == "installed"
    _publish(registry, tmp, "weather", "1.3.0", front=front)
    assert stack.client.get("/api/v1/marketplace/packages/weather").json()["action"] == "update"


def test_a_key_the_home_does_not_trust_is_shown_and_its_install_refused(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """A version signed by a second key of a publisher whose first key is pinned here is
    `untrusted` on its page, and installing it answers 409 `key_untrusted`."""
    server = registry[0]
    _publish(registry, tmp, "pinner", "1.0.0")
    assert (
        stack.client.post("/api/v1/marketplace/install", json={"spec": "pinner"}).status_code == 200
    )
    other = tmp / "acme-second.key"
    added = server.client.post(
        "/api/v1/publishers/acme/keys",
        json={"public_key": signing.keygen(other)},
        headers=server.auth(server.admin),
    )
    assert added.status_code == 201, added.text
    _publish(registry, tmp, "second-key", "1.0.0", key=other)
    p = stack.client.get("/api/v1/marketplace/packages/second-key").json()
    assert p["signature"]["key_status"] == "untrusted" and p["publisher_verified"] is False
    refused = stack.client.post("/api/v1/marketplace/install", json={"spec": "second-key"})
    assert refused.status_code == 409 and refused.json()["error"] == "key_untrusted"


class _Hostile(BaseHTTPRequestHandler):
    """A registry answering whatever `answers[path]` says: (status, content type, body)."""

    answers: dict[str, tuple[int, str, bytes]] = {}

    def do_GET(self) -> None:
        status, kind, body = self.answers.get(self.path.split("?")[0], (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _hit(name: str, description: str = "d") -> dict[str, Any]:
    return {
        "name": name,
        "publisher": "p",
        "version": "1.0.0",
        "description": description,
        "tags": [],
    }


def _hits(*hits: dict[str, Any], **more: Any) -> bytes:
    return json.dumps({"results": list(hits), **more}).encode()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        pytest.param(b"{not json", "is malformed", id="not-json"),
        pytest.param(b'{"results": "many"}', "is malformed", id="wrong-shape"),
        pytest.param(_hits(_hit("<script>x</script>")), "(results.0.name", id="bad-name"),
        pytest.param(_hits(_hit("ok", "d" * 9000)), "(results.0.description", id="long-text"),
        pytest.param(_hits(_hit("ok", "d" * (5 << 20))), "over 4194304 bytes", id="over-4mib"),
        pytest.param(_hits(next_cursor="../etc"), "(next_cursor", id="bad-cursor"),
    ],
)
def test_a_malformed_or_oversized_search_answer_is_a_502(
    stack: Stack, hostile: str, body: bytes, why: str
) -> None:
    """Whatever a hostile registry sends that does not fit the bounded models (or is over
    the size bound, read no further) is 502 `registry_bad_answer` saying why, never a 500
    or its content passed on."""
    _Hostile.answers["/api/v1/packages"] = (200, "application/json", body)
    reply = stack.client.get(SEARCH, params={"registry": hostile, "q": "x"})
    assert reply.status_code == 502, reply.text
    assert reply.json()["error"] == "registry_bad_answer"
    assert why in reply.json()["message"]
    assert "<script>" not in reply.text and "ddddd" not in reply.text


def test_a_hostile_package_page_and_an_unreachable_registry(stack: Stack, hostile: str) -> None:
    """A package page naming another package, or listing too many versions, is 502; an
    answer with more hits than asked is cut to the limit; a registry's 500 and a closed port
    are 503 `registry_unavailable`; an unknown package is 404 `package_not_found`."""
    brief = {
        "version": "1.0.0", "digest": "0" * 64, "yanked": False, "created_at": "2026-01-01",
        "yank_reason": None, "removed": False, "removed_reason": None, "scan_verdict": "clean",
        "signed": True, "key_id": "0" * 64, "log_index": 0,
    }  # fmt: skip
    pkg = {
        "name": "other", "publisher": "p", "latest": "1.0.0", "versions": [brief],
        "description": "", "tags": [], "permissions": [], "scan_verdict": "clean",
        "key_id": "0" * 64, "review": None, "similar_to": [],
    }  # fmt: skip
    _Hostile.answers["/api/v1/packages/asked"] = (200, "application/json", json.dumps(pkg).encode())
    swapped = stack.client.get("/api/v1/marketplace/packages/asked", params={"registry": hostile})
    assert swapped.status_code == 502 and swapped.json()["error"] == "registry_bad_answer"
    many = {**pkg, "name": "many", "versions": [brief] * 501}
    _Hostile.answers["/api/v1/packages/many"] = (200, "application/json", json.dumps(many).encode())
    flood = stack.client.get("/api/v1/marketplace/packages/many", params={"registry": hostile})
    assert flood.status_code == 502 and flood.json()["error"] == "registry_bad_answer"
    thirty = json.dumps({"results": [_hit(f"n{i}") for i in range(30)]}).encode()
    _Hostile.answers["/api/v1/packages"] = (200, "application/json", thirty)
    cut = stack.client.get(SEARCH, params={"registry": hostile, "limit": 3})
    assert cut.status_code == 200 and len(cut.json()["results"]) == 3
    _Hostile.answers["/api/v1/packages"] = (500, "text/plain", b"boom")
    down = stack.client.get(SEARCH, params={"registry": hostile})
    assert down.status_code == 503 and down.json()["error"] == "registry_unavailable"
    closed = stack.client.get(SEARCH, params={"registry": f"http://127.0.0.1:{free_port()}"})
    assert closed.status_code == 503 and closed.json()["error"] == "registry_unavailable"
    missing = stack.client.get("/api/v1/marketplace/packages/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "package_not_found"
    bad = stack.client.get("/api/v1/marketplace/packages/..%2Fadmin")
    assert bad.status_code in (404, 422)
    assert stack.client.get(SEARCH, params={"registry": "file:///etc/passwd"}).json()["error"] == (
        "bad_registry_url"
    )


def test_browsing_is_documented_and_needs_the_admin_scope(stack: Stack) -> None:
    """Both routes are in the OpenAPI document with their answer models; a token without
    `accounts:admin` is refused."""
    spec = stack.client.get("/api/openapi.json").json()
    for path in (SEARCH, "/api/v1/marketplace/packages/{name}"):
        ok = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]["$ref"].split("/")[-1] in ("BrowseResults", "PackageDetail")
    made = stack.client.post("/api/v1/users", json={"name": "viewer", "roles": ["operator"]})
    assert made.status_code == 201, made.text
    token = stack.client.post("/api/v1/users/viewer/tokens", json={"name": "t"}).json()["token"]
    reply = stack.client.get(SEARCH, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 403 and reply.json()["error"] == "insufficient_scope"


def test_registry_keys_sends_a_url_with_query_characters_intact(stack: Stack) -> None:
    """`nexflow registry keys --registry URL` URL-encodes the URL: the control plane sees all
    of `…?a=1&b=2` (and refuses it as no registry URL), not a URL cut at the `&`."""
    url = "http://registry.example/x?a=1&b=2"
    done = stack.cli("registry", "keys", "--registry", url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "bad_registry_url" in done.stderr and "b=2" in done.stderr
    fine = stack.cli("registry", "keys", "--registry", "http://registry.example/x")
    assert fine.returncode == 0, fine.stderr


class _KeepAlive(BaseHTTPRequestHandler):
    """A registry that keeps connections open (HTTP/1.1) and counts them."""

    protocol_version = "HTTP/1.1"
    connections = 0
    paths: list[str] = []

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_GET(self) -> None:
        type(self).paths.append(self.path.split("?")[0])
        found = self.path.startswith("/api/v1/packages?")
        body, status = (_hits(_hit("kept")), 200) if found else (b"", 404)  # nothing unread
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_browse_install_and_log_reads_share_one_connection_pool(stack: Stack) -> None:
    """Every registry read of the control plane (browse, install, log status) goes over one
    kept-open pool: a second read to the same registry reuses the connection instead of
    opening another (and building another TLS context, on https)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert stack.client.get(SEARCH, params={"registry": url, "q": "k"}).status_code == 200
        install = stack.client.post(
            "/api/v1/marketplace/install", json={"spec": "ghost", "registry": url}
        )
        assert 400 <= install.status_code < 500, install.text
        log = stack.client.get("/api/v1/marketplace/log", params={"registry": url})
        assert log.status_code != 500, log.text
        assert stack.client.get(SEARCH, params={"registry": url, "q": "k"}).status_code == 200
        assert len(_KeepAlive.paths) >= 4, _KeepAlive.paths
        assert _KeepAlive.connections == 1, (_KeepAlive.connections, _KeepAlive.paths)
    finally:
        server.shutdown()
        server.server_close()
