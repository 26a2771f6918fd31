"""Fixtures for the executor seam: small gRPC executors that speak the real contract
over a real channel (a unix socket, or TCP with mutual TLS), so the control plane's
client, bundles, volumes and dispatch are exercised end to end without a sandbox.

`DigestExecutor` serves the digest contract the way the proto documents it: `Describe`
names it, `PutBundle` verifies the digest and size and unpacks the tar, `Execute` with
an unknown bundle ends FAILED_PRECONDITION `bundle_missing <sha256>`. Its stdout says
which executor ran the call and which files its bundle held. Real sandbox runs are in
tests/e2e (the real executor, through `nexflow up`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from nexflow_control.certs import init_ca, issue_control_plane, issue_executor
from nexflow_control.executors import ExecutionSpec, Mount
from nexflow_control.settings import REPO_ROOT
from nexflow_control.skills import skill_digest

SERVICE = "nexflow.executor.v1.Executor"


def copy_echo(root: Path) -> Path:
    """A copy of the built-in echo skill under `root`."""
    target = root / "echo"
    shutil.copytree(REPO_ROOT / "skills" / "echo", target)
    return target


def spec(skill: Path, call_id: str, *mounts: Mount) -> ExecutionSpec:
    """What a call of `skill` asks of an executor, with these grants."""
    return ExecutionSpec(
        call_id=call_id,
        runtime="python",
        skill_dir=skill,
        skill_digest=skill_digest(skill),
        entrypoint="run.py",
        stdin=b'{"message":"hi"}',
        mounts=mounts,
    )


class DigestExecutor(pb_grpc.ExecutorServicer):
    """Records what it is sent; answers stdout `{"executor", "files", "stdin"}`."""

    def __init__(self, executor_id: str = "", *, slots: int = 0) -> None:
        self.executor_id = executor_id
        self.slots = slots
        self.busy = 0
        self.draining = False
        self.requests: list[pb.ExecuteRequest] = []
        self.bundles: dict[str, dict[str, bytes]] = {}
        self.chunk_sizes: list[list[int]] = []
        self.hold: asyncio.Event | None = None
        """When set, calls wait for it after Started (a test kills the server meanwhile)."""
        self.started = asyncio.Event()

    async def Describe(self, request: Any, context: Any) -> pb.DescribeResponse:
        return pb.DescribeResponse(
            default_backend=pb.BACKEND_NSJAIL,
            backends=[pb.BackendInfo(backend=pb.BACKEND_NSJAIL, available=True)],
            slots_total=self.slots,
            slots_busy=self.busy,
            draining=self.draining,
            executor_id=self.executor_id,
        )

    async def PutBundle(self, request_iterator: Any, context: Any) -> pb.PutBundleResponse:
        sha, size, data, sizes = "", 0, bytearray(), []
        async for chunk in request_iterator:
            if not sizes:
                sha, size = chunk.sha256, chunk.size
            sizes.append(len(chunk.data))
            data += chunk.data
        self.chunk_sizes.append(sizes)
        if hashlib.sha256(data).hexdigest() != sha or len(data) != size:
            await context.abort(grpc.StatusCode.DATA_LOSS, "bundle digest or size differs")
        if sha in self.bundles:
            return pb.PutBundleResponse(stored=False)
        with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
            self.bundles[sha] = {
                m.name: (tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                for m in tar.getmembers()
            }
        return pb.PutBundleResponse(stored=True)

    async def Execute(self, request: pb.ExecuteRequest, context: Any) -> Any:
        self.requests.append(request)
        if self.draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        if request.bundle_sha256 and request.bundle_sha256 not in self.bundles:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"bundle_missing {request.bundle_sha256}"
            )
        self.busy += 1
        try:
            yield pb.ExecuteEvent(
                started=pb.Started(call_id=request.call_id, backend=pb.BACKEND_NSJAIL)
            )
            self.started.set()
            if self.hold is not None:
                await self.hold.wait()
            files = sorted(self.bundles.get(request.bundle_sha256, {}))
            out = json.dumps(
                {"executor": self.executor_id, "files": files, "stdin": request.stdin.decode()}
            ).encode()
            yield pb.ExecuteEvent(output=pb.Output(stream=pb.STREAM_STDOUT, data=out))
            yield pb.ExecuteEvent(
                finished=pb.Finished(exit_code=0, kill_reason=pb.KILL_REASON_NONE)
            )
        finally:
            self.busy -= 1


class Pki:
    """A CA made as `nexflow certs init` makes it, in one folder, and the certificates it
    issues as `nexflow certs issue` does (the tests run on the real issuance)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.ca_file = init_ca(root).cert

    def issue(self, name: str) -> tuple[Path, Path]:
        """(cert file, key file): the control plane's client certificate for
        `control-plane`, else executor `name`'s server certificate (SAN DNS `name`)."""
        if name == "control-plane":
            issued = issue_control_plane(self.root)
        else:
            issued = issue_executor(self.root, name, dns=[name], ips=[])
        return issued.cert, issued.key


@asynccontextmanager
async def serve(
    servicer: DigestExecutor,
    address: str,
    *,
    pki: Pki | None = None,
    server_name: str = "executor-1",
) -> AsyncIterator[tuple[grpc.aio.Server, str]]:
    """Serve `servicer` (and grpc.health.v1) on `address`: a `unix://` path as is, or
    `127.0.0.1:0` with mutual TLS from `pki` (client certificate required). Yields the
    server and its target."""
    server = grpc.aio.server()
    pb_grpc.add_ExecutorServicer_to_server(servicer, server)
    checks = health.aio.HealthServicer()
    await checks.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    if pki is None:
        server.add_insecure_port(address)
        target = address
    else:
        cert_file, key_file = pki.issue(server_name)
        creds = grpc.ssl_server_credentials(
            [(key_file.read_bytes(), cert_file.read_bytes())],
            root_certificates=pki.ca_file.read_bytes(),
            require_client_auth=True,
        )
        port = server.add_secure_port(address, creds)
        target = f"127.0.0.1:{port}"
    await server.start()
    try:
        yield server, target
    finally:
        await server.stop(None)
