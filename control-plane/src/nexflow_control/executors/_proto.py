"""Domain types to protobuf and back: the only module that builds or reads `executor_pb2`
messages for a call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nexflow.executor.v1 import executor_pb2 as pb

from ._types import (
    EgressRecord,
    ExecutionSpec,
    ExecutorState,
    KillReason,
    Mount,
    Outcome,
    Usage,
)

_RUNTIMES = {"bash": pb.RUNTIME_BASH, "python": pb.RUNTIME_PYTHON, "node": pb.RUNTIME_NODE}
_BACKENDS = {"": pb.BACKEND_UNSPECIFIED, "docker": pb.BACKEND_DOCKER, "nsjail": pb.BACKEND_NSJAIL}
_KILLS = {v: KillReason(k.removeprefix("KILL_REASON_").lower()) for k, v in pb.KillReason.items()}


def backend_name(value: int) -> str:
    return str(pb.Backend.Name(value)).removeprefix("BACKEND_").lower()


Locate = Callable[[str], tuple[str, str] | None]


def _mount(m: Mount, locate: Locate | None) -> pb.Mount:
    where = locate(m.host_path) if locate is not None else None
    if where is None:
        return pb.Mount(host_path=m.host_path, sandbox_path=m.sandbox_path, writable=m.writable)
    volume, subpath = where
    return pb.Mount(
        volume=volume, subpath=subpath, sandbox_path=m.sandbox_path, writable=m.writable
    )


def execute_request(
    spec: ExecutionSpec, bundle_sha256: str = "", locate: Locate | None = None
) -> pb.ExecuteRequest:
    """The request for `spec`: by host paths (a local executor of the path contract), or
    by bundle digest with mounts named by volume where `locate` finds one."""
    lim = spec.limits
    return pb.ExecuteRequest(
        call_id=spec.call_id,
        runtime=_RUNTIMES[spec.runtime],
        skill_dir="" if bundle_sha256 else str(spec.skill_dir),
        bundle_sha256=bundle_sha256,
        entrypoint=spec.entrypoint,
        stdin=spec.stdin,
        mounts=[_mount(m, locate if bundle_sha256 else None) for m in spec.mounts],
        network_hosts=list(spec.network_hosts),
        image=spec.image,
        image_labels=dict(spec.image_labels),
        backend=_BACKENDS[spec.backend],
        secrets=dict(spec.secrets),
        limits=pb.Limits(
            wall_time_ms=lim.wall_time_ms,
            cpu_time_ms=lim.cpu_time_ms,
            memory_bytes=lim.memory_bytes,
            pids=lim.pids,
            output_bytes=lim.output_bytes,
        ),
    )


def _egress(e: pb.Egress) -> EgressRecord:
    return EgressRecord(
        host=e.host,
        port=e.port,
        method=e.method,
        address=e.address,
        allowed=e.allowed,
        reason=e.reason,
        grant=e.grant,
        bytes_up=e.bytes_up,
        bytes_down=e.bytes_down,
        started_at_unix_ms=e.started_at_unix_ms,
        duration_ms=e.duration_ms,
        seq=e.seq,
    )


@dataclass
class Collector:
    """Gathers one Execute stream into an `Outcome`; stdout/stderr capped at `output_cap`."""

    output_cap: int
    started: bool = False
    backend: str = ""
    image_id: str = ""
    warm: bool = False
    # Chunks as received, joined once at the end: one copy of the output, none when it
    # came in one chunk (the common case; b"".join of one bytes gives it back as is).
    stdout: list[bytes] = field(default_factory=list)
    stderr: list[bytes] = field(default_factory=list)
    _sizes: list[int] = field(default_factory=lambda: [0, 0])
    egress: list[EgressRecord] = field(default_factory=list)
    finished: pb.Finished | None = None

    def add(self, event: pb.ExecuteEvent) -> None:
        kind = event.WhichOneof("event")
        if kind == "output":
            which = 0 if event.output.stream == pb.STREAM_STDOUT else 1
            room = self.output_cap - self._sizes[which]
            if room > 0:
                data = event.output.data
                chunk = data if len(data) <= room else data[:room]
                (self.stdout, self.stderr)[which].append(chunk)
                self._sizes[which] += len(chunk)
        elif kind == "started":
            self.started = True
            self.backend = backend_name(event.started.backend)
            self.image_id = event.started.image_id
            self.warm = event.started.warm
        elif kind == "egress":
            self.egress.append(_egress(event.egress))
        elif kind == "finished":
            self.finished = event.finished

    def outcome(self, executor: str, bundle_sha256: str = "") -> Outcome | None:
        """The outcome, or None when no Finished came."""
        fin = self.finished
        if fin is None:
            return None
        return Outcome(
            exit_code=fin.exit_code,
            kill_reason=_KILLS.get(fin.kill_reason, KillReason.UNSPECIFIED),
            detail=fin.detail,
            truncated=fin.truncated,
            usage=Usage(fin.wall_time_ms, fin.cpu_time_ms, fin.peak_memory_bytes),
            stdout=b"".join(self.stdout),
            stderr=b"".join(self.stderr),
            egress=tuple(self.egress),
            egress_dropped=fin.egress_dropped,
            backend=self.backend,
            image_id=self.image_id,
            warm=self.warm,
            executor=executor,
            bundle_sha256=bundle_sha256,
        )


def described(name: str, target: str, reply: pb.DescribeResponse) -> ExecutorState:
    """An executor's state from its `Describe` answer."""
    return ExecutorState(
        name=name,
        target=target,
        healthy=True,
        described=True,
        backend=backend_name(reply.default_backend),
        available=tuple(backend_name(b.backend) for b in reply.backends if b.available),
        unavailable={backend_name(b.backend): b.reason for b in reply.backends if not b.available},
        pool_ready=reply.pool_ready,
        pool_profiles=reply.pool_profiles,
        slots_total=reply.slots_total,
        slots_busy=reply.slots_busy,
        draining=reply.draining,
        executor_id=reply.executor_id,
    )


def bundle_chunks(sha256: str, data: bytes, size: int) -> list[pb.BundleChunk]:
    """`data` as PutBundle chunks of at most `size` bytes; the first names the bundle."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    first = pb.BundleChunk(sha256=sha256, size=len(data), data=pieces[0])
    return [first, *(pb.BundleChunk(data=p) for p in pieces[1:])]
