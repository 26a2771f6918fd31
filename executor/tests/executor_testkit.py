"""Test kit for the executor suite: fixtures (re-exported by conftest) and helpers.

A real server (create_server) on a short tmp unix socket, a real grpc.aio channel.
Skill folders are 0755 with 0644 files; a read-write grant is chowned to the
sandbox uid 65534; the control plane's stand-in home is passed as forbidden.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from nexflow_executor.backends import select_backends
from nexflow_executor.server import create_server
from nexflow_executor.settings import Settings

SANDBOX_UID = 65534


@dataclass
class Outcome:
    """Everything one Execute stream produced."""

    events: list[pb.ExecuteEvent] = field(default_factory=list)
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def finished(self) -> pb.Finished:
        assert self.events[-1].HasField("finished"), self.events[-1]
        return self.events[-1].finished


@dataclass
class Home:
    """A stand-in for the control plane's home: holds its 'database'."""

    path: Path
    db: Path


def new_call_id() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short path for unix sockets (108-byte limit)."""
    path = Path(tempfile.mkdtemp(prefix="nx-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def home(base_dir: Path) -> Home:
    path = base_dir / "cp-home"
    path.mkdir(mode=0o755)
    db = path / "nexflow.db"
    db.write_text("SECRET-DATABASE-CONTENT")
    db.chmod(0o644)  # world-readable on purpose: only the sandbox must keep it out
    return Home(path=path, db=db)


@pytest.fixture(
    params=[
        pytest.param("nsjail", marks=pytest.mark.nsjail),
        pytest.param("docker", marks=pytest.mark.docker),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that runs sandboxes runs on both backends (a test may parametrize it down)."""
    return str(request.param)


@pytest.fixture
def settings(short_dir: Path, home: Home, backend: str) -> Settings:
    """The executor's settings; the warm pool is off unless a test turns it on (every call
    then starts its container, which is what most attack tests should exercise)."""
    return Settings(
        socket=short_dir / "run" / "executor.sock",
        state_dir=short_dir / "state",
        forbidden_paths=[home.path],
        backend=backend,
        docker={"pool": {"size": 0}},
    )


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[pb_grpc.ExecutorStub]:
    """A real executor for `settings` (backends started, server on its socket), and a stub."""
    backends = select_backends(settings)
    await backends.start()
    running = await create_server(settings, backends)
    channel = grpc.aio.insecure_channel(running.address)
    try:
        yield pb_grpc.ExecutorStub(channel)
    finally:
        await channel.close()
        await running.stop(None)
        await backends.close()


@pytest.fixture
async def stub(settings: Settings) -> AsyncIterator[pb_grpc.ExecutorStub]:
    async with serving(settings) as stub:
        yield stub


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A 0755 dir under /tmp (pytest's tmp dirs are 0700: the sandbox uid cannot traverse them)."""
    path = Path(tempfile.mkdtemp(prefix="nx-base-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def skill_dir(base_dir: Path) -> Path:
    """An empty skill folder readable by the sandbox uid."""
    return make_dir(base_dir, "skill")


def write_script(skill_dir: Path, name: str, body: str) -> str:
    script = skill_dir / name
    script.write_text(body)
    script.chmod(0o644)
    return name


def make_dir(parent: Path, name: str, *, sandbox_writable: bool = False) -> Path:
    path = parent / name
    path.mkdir()
    path.chmod(0o755)
    if sandbox_writable:
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
    return path


def request(
    skill_dir: Path, entrypoint: str, runtime: int = pb.RUNTIME_PYTHON, **fields: object
) -> pb.ExecuteRequest:
    limits = fields.pop("limits", None)
    req = pb.ExecuteRequest(
        call_id=str(fields.pop("call_id", new_call_id())),
        runtime=runtime,  # type: ignore[arg-type]
        skill_dir=str(skill_dir),
        entrypoint=entrypoint,
        **fields,  # type: ignore[arg-type]
    )
    if limits is not None:
        req.limits.CopyFrom(limits)  # type: ignore[arg-type]
    return req


async def execute(stub: pb_grpc.ExecutorStub, req: pb.ExecuteRequest) -> Outcome:
    outcome = Outcome()
    async for event in stub.Execute(req):
        outcome.events.append(event)
        if event.HasField("output"):
            if event.output.stream == pb.STREAM_STDOUT:
                outcome.stdout += event.output.data
            else:
                outcome.stderr += event.output.data
    return outcome
