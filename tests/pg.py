"""A throwaway PostgreSQL server for tests and benchmarks (the Debian `postgresql` package).

`PgServer.start()` runs `initdb` into a fresh temporary folder and starts `postgres` on a
unix socket in that folder and a free loopback port, trust authentication, no fsync (the
data is thrown away). PostgreSQL refuses to run as root, so under root the folder is
given to `nobody` and both programs run as `nobody` (`subprocess` drops the user and
groups itself, so signals reach `postgres` directly; `nobody` exists on every Debian).
Each pytest-xdist worker starts its own server (a session fixture), so workers never
share a database; `create_database()` gives each test its own. A test that takes the
server away (`crash()`, then `restart()`) starts a private one with `PgServer.start()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import asyncpg
import pytest

_USER = "nobody"
_INITDB_FLAGS = ("--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (not installed, or it failed to start)."""


def pg_bindir() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin holding `postgres` and `initdb`."""
    found = [
        Path(p).parent
        for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")
        if Path(p).with_name("initdb").exists()
    ]
    if not found:
        raise PgUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _as_nobody() -> dict[str, Any]:
    """`subprocess` arguments that run a program as `nobody` (PostgreSQL refuses root)."""
    try:
        entry = pwd.getpwnam(_USER)
    except KeyError as exc:
        raise PgUnavailable(f"running as root and there is no user {_USER!r}") from exc
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "cwd": "/"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start `postgres` (as `nobody` under root), appending to `log`."""
    who = _as_nobody() if os.geteuid() == 0 else {}
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **who)


@dataclass
class PgServer:
    """A running server: connect as superuser `postgres` to 127.0.0.1:`port`."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    _names: count[int] = field(default_factory=lambda: count(1))
    _argv: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, prefix: str = "nexflow-pg-") -> PgServer:
        bindir = pg_bindir()
        as_root = os.geteuid() == 0
        # Not under pytest's tmp_path: its 0700 parents keep `nobody` out.
        root = Path(tempfile.mkdtemp(prefix=prefix))
        root.chmod(0o755)
        data = root / "data"
        data.mkdir()
        data.chmod(0o700)
        who = _as_nobody() if as_root else {}
        if as_root:
            shutil.chown(root, _USER)
            shutil.chown(data, _USER)
        log = root / "postgres.log"
        try:
            subprocess.run(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", *_INITDB_FLAGS],
                check=True,
                capture_output=True,
                timeout=120,
                **who,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            shutil.rmtree(root, ignore_errors=True)
            detail = getattr(exc, "stderr", b"") or b""
            raise PgUnavailable(f"initdb failed: {exc} {detail.decode(errors='replace')}") from exc
        port = _free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(root),
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "64MB",
        }
        args = [a for k, v in settings.items() for a in ("-c", f"{k}={v}")]
        argv = [str(bindir / "postgres"), "-D", str(data), *args]
        server = cls(root, port, _spawn(argv, log), _argv=argv)
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def crash(self) -> None:
        """Stop the server at once (immediate shutdown: no checkpoint, clients cut off),
        keeping its data; `restart()` brings it back (with crash recovery)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown
            self.proc.wait(timeout=20)

    def restart(self) -> None:
        """Start the server again on the same data and port (after `crash()`)."""
        if self.proc.poll() is None:
            raise RuntimeError("the server is still running")
        self.proc = _spawn(self._argv, self.root / "postgres.log")
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PgUnavailable(f"postgres exited:\n{self.log()}")
            ready = subprocess.run(
                [str(pg_bindir() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise PgUnavailable(f"postgres never became ready:\n{self.log()}")

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy async URL of `database` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through `psql` (over TCP, as `postgres`); its output."""
        where = ("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database)
        done = subprocess.run(
            [str(pg_bindir() / "psql"), "-XqAt", "-v", "ON_ERROR_STOP=1", *where, "-c", sql],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; its URL."""
        name = f"{prefix}_{next(self._names)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)


# -- pytest glue: test suites that run on SQLite and on PostgreSQL ---------------------------

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
"""For a test that reaches into the SQLite file itself (a trigger, the WAL, busy locks)."""


def parametrize_backends(metafunc: pytest.Metafunc, *, sqlite_fixtures: set[str]) -> None:
    """Run each test that needs the `backend` fixture on SQLite and on PostgreSQL.

    Tests using one of `sqlite_fixtures` (raw access to the SQLite file), or marked
    `SQLITE_ONLY`, run on SQLite only. The PostgreSQL case carries the `postgres` marker.
    """
    if "backend" not in metafunc.fixturenames:
        return
    if any(
        m.args and m.args[0] == "backend" for m in metafunc.definition.iter_markers("parametrize")
    ):
        return
    params = [pytest.param("sqlite", id="sqlite")]
    if not sqlite_fixtures & set(metafunc.fixturenames):
        params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres" (parametrized by `parametrize_backends`); a conftest that
    imports it with `db_url` gives its tests a SQLite file or a PostgreSQL database."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh SQLite file under `tmp_path/state`, or this test's PostgreSQL database."""
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'nexflow.db'}"


def pg_rows(url: str, sql: str, *params: Any) -> list[Any]:
    """Rows of `sql` (with `?` placeholders) read by a separate asyncpg connection.

    Runs on its own thread and loop, so sync test helpers can call it from async tests.
    """
    parts = sql.split("?")
    numbered = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(numbered, *params))
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result()
