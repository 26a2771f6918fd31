"""A real git server for the git skills' tests: Git's own `git http-backend` (smart HTTP,
fetch and push) run as a CGI program behind a small threaded HTTP server on 127.0.0.1.

Repositories are bare ones under a temp root; those under `private/` need HTTP Basic
auth with GIT_USER/GIT_PASSWORD (the skills get them as the brokered secrets
`git_username`/`git_password`). Every request is logged (`requests`) so a test can see
what reached the server.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GIT_USER, GIT_PASSWORD = "builder", "Qm7vT2xK9pLw4rZc"

_BACKEND = "/usr/lib/git-core/git-http-backend"


class GitServer:
    """`git http-backend` over HTTP on a free loopback port, serving `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

            def do_POST(self) -> None:
                server.handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def create(self, name: str, files: dict[str, str], branch: str = "main") -> Path:
        """A bare repository `name` whose `branch` holds one commit of `files`."""
        bare = self.root / name
        work = self.root / f".work-{name.replace('/', '-')}"
        _git("init", "-q", "-b", branch, str(work))
        for path, body in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
        _git("-C", str(work), "add", "-A")
        _git(
            "-C",
            str(work),
            "-c",
            "user.name=Ann",
            "-c",
            "user.email=ann@example.org",
            "commit",
            "-q",
            "-m",
            "first commit",
        )
        _git("clone", "-q", "--bare", str(work), str(bare))
        _git("-C", str(bare), "config", "http.receivepack", "true")
        return bare

    def log(self, name: str, ref: str = "main") -> list[str]:
        """The subjects on `ref` of the served repository, newest first."""
        out = _git("-C", str(self.root / name), "log", "--format=%s", ref)
        return out.splitlines()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        self.requests.append((request.command, request.path))
        if path.startswith("/private/"):
            expected = base64.b64encode(f"{GIT_USER}:{GIT_PASSWORD}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                request.send_response(401)
                request.send_header("WWW-Authenticate", 'Basic realm="git"')
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "tester",
            "REQUEST_METHOD": request.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            [_BACKEND], input=body, env=env, capture_output=True, timeout=60, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        request.send_response(status)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args],
        capture_output=True,
        text=True,
        check=True,
        env={"GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"},
    ).stdout


__all__ = ["GIT_PASSWORD", "GIT_USER", "GitServer"]
