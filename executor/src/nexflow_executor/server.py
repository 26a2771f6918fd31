"""Builds the gRPC server on a unix socket; `serve()` runs it until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import stat

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from nexflow.executor.v1 import executor_pb2, executor_pb2_grpc

from nexflow_executor.backends import Backends, select_backends
from nexflow_executor.errors import PreconditionFailed
from nexflow_executor.service import ExecutorService
from nexflow_executor.settings import Settings

__all__ = ["create_server", "lock_state_dir", "serve"]

log = structlog.get_logger("nexflow_executor")
SERVICE_NAME = executor_pb2.DESCRIPTOR.services_by_name["Executor"].full_name


def _prepare_socket_path(settings: Settings) -> None:
    path = settings.socket
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise PreconditionFailed(f"socket: {path} exists and is not a socket; not removing it")
        path.unlink()  # a stale socket from an earlier run


async def create_server(settings: Settings, backends: Backends) -> tuple[grpc.aio.Server, str]:
    """A started server bound to `unix:<settings.socket>` (mode `socket_mode`), and its address.

    `backends` come from `select_backends` and are started and closed by the caller.
    """
    _prepare_socket_path(settings)
    server = grpc.aio.server()
    service = ExecutorService(settings, backends)
    executor_pb2_grpc.add_ExecutorServicer_to_server(service, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"unix:{settings.socket}"
    old_umask = os.umask(0o177)  # no window in which the socket is open to others
    try:
        server.add_insecure_port(address)
    finally:
        os.umask(old_umask)
    os.chmod(settings.socket, settings.socket_mode)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, address


def lock_state_dir(settings: Settings) -> int:
    """Hold an exclusive lock on the state directory for the life of the process.

    The state directory names this executor's containers and cgroups (their labels carry
    its hash), and start-up removes whatever carries that name: a second executor on the
    same state directory would reap the first one's running calls. So it is refused."""
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(settings.state_dir / "executor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise PreconditionFailed(
            f"state_dir: {settings.state_dir} is in use by another running executor; "
            "give each executor its own (--state-dir)"
        ) from None
    return fd


async def serve(settings: Settings, stop: asyncio.Event, grace_s: float = 5.0) -> None:
    """Run until `stop` is set, then stop gracefully (running calls get `grace_s`)."""
    lock_state_dir(settings)  # released when the process exits
    backends = select_backends(settings)
    await backends.start()
    try:
        server, _ = await create_server(settings, backends)
        log.info(
            "executor.ready",
            socket=str(settings.socket),
            backend=backends.default,
            available=sorted(backends.available),
            unavailable=backends.unavailable,
        )
        await stop.wait()
        log.info("executor.stopping", grace_s=grace_s)
        await server.stop(grace_s)
    finally:
        await backends.close()
    with contextlib.suppress(FileNotFoundError):
        settings.socket.unlink()
