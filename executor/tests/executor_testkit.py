"""Test kit for the executor suite: fixtures (re-exported by conftest) and helpers.

A real server (create_server) on a short tmp unix socket, a real grpc.aio channel.
Skill folders are 0755 with 0644 files; a read-write grant is chowned to the
sandbox uid 65534; the control plane's stand-in home is passed as forbidden.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tarfile
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


NSJAIL_ONLY = pytest.mark.parametrize("backend", [pytest.param("nsjail", marks=pytest.mark.nsjail)])
"""For tests about admission, bundles or transport, where the backend does not matter."""


def tar_bundle(files: dict[str, bytes], *, executable: tuple[str, ...] = ()) -> bytes:
    """An uncompressed POSIX tar of `files` (name -> content), as the control plane sends."""
    members = []
    for name, data in files.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o755 if name in executable else 0o644
        members.append((info, data))
    return tar_of(members)


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A tar of exactly these members (any type, any name: for refusals)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def chunks_of(
    data: bytes, *, sha256: str | None = None, size: int | None = None, chunk: int = 64 * 1024
) -> list[pb.BundleChunk]:
    """`data` as a PutBundle stream; `sha256`/`size` override what the first chunk declares."""
    digest = hashlib.sha256(data).hexdigest() if sha256 is None else sha256
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    stream = [pb.BundleChunk(data=piece) for piece in pieces]
    stream[0].sha256 = digest
    stream[0].size = len(data) if size is None else size
    return stream


async def put_bundle(stub: pb_grpc.ExecutorStub, data: bytes, **declared: object) -> bool:
    """Send `data` with PutBundle; whether the executor stored it (False: already held)."""

    async def stream() -> AsyncIterator[pb.BundleChunk]:
        for piece in chunks_of(data, **declared):  # type: ignore[arg-type]
            yield piece

    response = await stub.PutBundle(stream())
    return bool(response.stored)


def cached_bundles(settings: Settings) -> list[str]:
    """Names in the bundle cache and in its incoming directory (what an upload left)."""
    root = settings.bundle_dir
    names = [p.name for p in root.iterdir() if p.name != ".incoming"]
    return sorted(names + [f".incoming/{p.name}" for p in (root / ".incoming").iterdir()])


def bundle_request(digest: str, entrypoint: str, **fields: object) -> pb.ExecuteRequest:
    """An ExecuteRequest for a skill held as a bundle (no skill_dir)."""
    req = request(Path("/unused"), entrypoint, **fields)
    req.skill_dir = ""
    req.bundle_sha256 = digest
    return req


async def status_of(call: object) -> grpc.aio.AioRpcError:
    """The error a call ended with (fails the test if it ended well)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value
