"""A private OPA server child process: ``opa run --server`` on a free loopback port.

Used by ``nexflow up --opa``, ``nexflow policy eval --engine opa``, the conformance tests
and the benchmarks. The server starts with no policy of ours: the OPA server engine
uploads the policy directory into it (see ``_opa``), the same way as into a remote one.

Other local users can reach a loopback port, so the server requires a bearer token:
it starts with ``--authentication=token --authorization=basic`` and a one-file
``system.authz`` policy, written to a private temporary directory, that admits only that
token (and an unauthenticated ``GET /health``). The token is never on a command line.

The child gets ``PR_SET_PDEATHSIG`` (Linux): if this process dies without stopping it,
even by SIGKILL, the kernel sends the server SIGTERM.
"""

from __future__ import annotations

import ctypes
import http.client
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ._errors import PolicyError

_PR_SET_PDEATHSIG = 1


class OpaNotFound(PolicyError):
    """No ``opa`` binary next to the Python interpreter or on PATH."""


class OpaStartError(PolicyError):
    """The OPA server process did not start or did not become healthy."""


def find_opa_binary() -> Path:
    """The ``opa`` binary next to ``sys.executable`` (``make setup`` puts it there), else PATH."""
    beside = Path(sys.executable).with_name("opa")
    if beside.is_file():
        return beside
    found = shutil.which("opa")
    if found:
        return Path(found)
    raise OpaNotFound(
        f"the opa binary was not found next to {sys.executable} or on PATH "
        "(`make opa` builds it with scripts/install-opa.sh)"
    )


def _authz_policy(token: str) -> str:
    return (
        "package system.authz\n\n"
        "default allow := false\n\n"
        f'allow if input.identity == "{token}"\n\n'
        "allow if {\n"
        '\tinput.method == "GET"\n'
        '\tinput.path == ["health"]\n'
        "}\n"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec function that asks the kernel to SIGTERM the child when we die (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the child

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return set_pdeathsig


class LocalOpaServer:
    """An OPA server process of our own; ``start()`` it, ``stop()`` it (or use ``with``)."""

    def __init__(self, binary: Path | None = None, *, startup_timeout_s: float = 20.0) -> None:
        """Prepare (nothing runs yet); ``binary`` defaults to ``find_opa_binary()``."""
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self.token = secrets.token_urlsafe(32)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended."""
        return None if self._proc is None else self._proc.poll()

    def start(self) -> LocalOpaServer:
        """Start the server and wait until ``/health`` answers; raise OpaNotFound/OpaStartError."""
        binary = self._binary or find_opa_binary()
        self._dir = Path(tempfile.mkdtemp(prefix="nexflow-opa-"))  # mode 0700
        authz = self._dir / "system_authz.rego"
        authz.write_text(_authz_policy(self.token))
        authz.chmod(0o600)
        problem = "it did not start"
        for _ in range(3):  # another process may take the free port before OPA binds it
            self.port = _free_port()
            problem = self._spawn(binary, authz)
            if not problem:
                return self
        self.stop()
        raise OpaStartError(f"the OPA server ({binary}) did not start: {problem}")

    def _spawn(self, binary: Path, authz: Path) -> str:
        """Start one process; '' once healthy, else why not (the process is then gone)."""
        log = (self._dir or Path(tempfile.gettempdir())) / "opa.log"
        cmd = [
            str(binary),
            "run",
            "--server",
            f"--addr=127.0.0.1:{self.port}",
            "--authentication=token",
            "--authorization=basic",
            "--skip-version-check",
            "--log-level=error",
            "--shutdown-grace-period=1",
            str(authz),
        ]
        with open(log, "wb") as out:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_parent_death_signal(),  # only a prctl call: safe after fork
                process_group=0,  # Ctrl-C in a terminal is ours to handle: we stop it last
            )
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                text = log.read_text(errors="replace").strip()
                return f"exit status {self._proc.returncode}: {text[-500:]}"
            if self._healthy():
                return ""
            time.sleep(0.02)
        self._terminate()
        return f"no healthy answer within {self._startup_timeout_s:g} s"

    def _healthy(self) -> bool:
        """One ``GET /health`` (http.client: no log line per probe)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its directory."""
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> LocalOpaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
