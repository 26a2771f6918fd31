"""A real `nexflow-registry serve` on a real socket, and a client-side publisher for tests."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from nexflow_registry import signing
from nexflow_registry.transparency import Checkpoint, parse_and_verify

from tests.harness import free_port, wait_healthy

REGISTRY = Path(sys.executable).parent / "nexflow-registry"
ECHO = Path(__file__).resolve().parents[2] / "skills" / "echo"


@dataclass
class Server:
    url: str
    admin: str
    home: Path
    proc: subprocess.Popen[bytes]
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def checkpoint(self) -> Checkpoint:
        """The current checkpoint, verified against the log key read from the home."""
        vkey = self.client.get("/api/v1/log/key").text.strip()
        return parse_and_verify(self.client.get("/api/v1/log/checkpoint").text, vkey)

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=20)


def start(
    home: Path,
    env: dict[str, str] | None = None,
    database_url: str | None = None,
    port: int | None = None,
) -> Server:
    """Start the registry on `port` (default: a free one) with `home` (and `database_url`,
    else SQLite in the home); wait until /health answers."""
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / f"{home.name}-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(REGISTRY),
                "serve",
                "--home",
                str(home),
                "--port",
                str(port),
                *(["--database-url", database_url] if database_url else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NEXFLOW_REGISTRY_ADMIN_TOKEN": "", **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, log_path, "nexflow-registry serve")
    admin = (env or {}).get("NEXFLOW_REGISTRY_ADMIN_TOKEN") or (
        home / "admin.token"
    ).read_text().strip()
    return Server(url, admin, home, proc)


def skill_copy(tmp: Path, version: str, name: str = "echo", extra: str = "") -> Path:
    """A copy of skills/echo with another name or version (and optional extra text)."""
    folder = tmp / f"{name}-{version}-{len(list(tmp.glob('*')))}"
    shutil.copytree(ECHO, folder)
    text = (folder / "SKILL.md").read_text()
    text = text.replace("name: echo", f"name: {name}").replace(
        "version: 1.0.0", f"version: {version}"
    )
    (folder / "SKILL.md").write_text(text + extra)
    return folder


def tar_gz(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(
                path,
                arcname=f"{folder.name}/{path.relative_to(folder).as_posix()}",
                recursive=False,
            )
    return buf.getvalue()


def publish(server: Server, token: str, folder: Path, key: Path, **params: str) -> httpx.Response:
    """Sign `folder` with `key` and publish it as a .tar.gz."""
    doc = signing.sign(folder, signing.load_private(key))
    return server.client.post(
        "/api/v1/packages",
        content=tar_gz(folder),
        params=params,
        headers={**server.auth(token), "X-Nexflow-Signature": doc.model_dump_json()},
    )


def b64list(hashes: list[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in hashes]


def new_publisher(server: Server, name: str, key: Path) -> str:
    """Make a key at `key` and a publisher `name` with it (as the admin); its publish token."""
    reply = server.client.post(
        "/api/v1/publishers",
        json={"name": name, "public_key": signing.keygen(key)},
        headers=server.auth(server.admin),
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])
