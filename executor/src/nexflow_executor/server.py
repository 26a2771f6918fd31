"""Builds the gRPC server (unix socket; TCP with mutual TLS when configured); `serve()`
runs it until asked to stop, draining first."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import stat
from dataclasses import dataclass

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from nexflow.executor.v1 import executor_pb2, executor_pb2_grpc

from nexflow_executor.admission import Admission
from nexflow_executor.backends import Backends, select_backends
from nexflow_executor.bundles import BundleStore
from nexflow_executor.errors import PreconditionFailed
from nexflow_executor.service import ExecutorService
from nexflow_executor.settings import Settings
from nexflow_executor.tls import ClientIdentity, server_credentials

__all__ = ["Running", "create_server", "lock_state_dir", "serve"]

log = structlog.get_logger("nexflow_executor")
SERVICE_NAME = executor_pb2.DESCRIPTOR.services_by_name["Executor"].full_name
_FLUSH_S = 1.0  # after the drain: for streams still being written to end cleanly


def _prepare_socket_path(settings: Settings) -> None:
    path = settings.socket
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise PreconditionFailed(f"socket: {path} exists and is not a socket; not removing it")
        path.unlink()  # a stale socket from an earlier run


@dataclass
class Running:
    """A started server: where it listens and the parts `serve` drains and stops."""

    server: grpc.aio.Server
    address: str  # unix:<socket>
    tcp_address: str | None  # host:port actually bound (mutual TLS), or None
    admission: Admission
    health: health.aio.HealthServicer
    service: ExecutorService

    async def drain(self) -> None:
        """Take no new calls or bundles (UNAVAILABLE "draining"); health NOT_SERVING."""
        self.admission.drain()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    async def stop(self, grace_s: float | None) -> None:
        """Stop serving; calls still running after `grace_s` are cancelled (killed)."""
        await self.server.stop(grace_s)
        self.service.close()


async def create_server(settings: Settings, backends: Backends) -> Running:
    """A started server bound to `unix:<settings.socket>` (mode `socket_mode`) and, when
    `settings.tcp` is set, to its TCP address with mutual TLS.

    `backends` come from `select_backends` and are started and closed by the caller.
    """
    _prepare_socket_path(settings)
    bundles = BundleStore(settings)
    bundles.open()
    interceptors = [] if settings.tcp is None else [ClientIdentity(settings.tcp.client_name)]
    credentials = None if settings.tcp is None else server_credentials(settings.tcp)
    server = grpc.aio.server(interceptors=interceptors)
    admission = Admission(settings.max_calls)
    service = ExecutorService(settings, backends, bundles, admission)
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
    tcp_address = None
    if settings.tcp is not None and credentials is not None:
        tcp_address = _bind_tcp(server, settings.tcp.address, credentials)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Running(server, address, tcp_address, admission, health_servicer, service)


def _bind_tcp(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials) -> str:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise PreconditionFailed(f"tcp.address: {address!r} is not host:port")
    try:
        bound = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        raise PreconditionFailed(f"tcp.address: cannot listen on {address!r}: {exc}") from None
    return f"{host}:{bound}"


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


async def serve(
    settings: Settings, stop: asyncio.Event, drain: asyncio.Event | None = None
) -> None:
    """Serve until `stop` or `drain` is set, draining first.

    `stop` (SIGTERM/SIGINT): refuse new calls, let running ones finish for up to
    `settings.drain_grace_s`, kill what is left, exit. `drain` (SIGUSR1): refuse new
    calls and exit when the last running one has ended, however long it takes (a
    `stop` meanwhile applies the grace period from then on)."""
    lock_state_dir(settings)  # released when the process exits
    backends = select_backends(settings)
    await backends.start()
    try:
        running = await create_server(settings, backends)
        log.info(
            "executor.ready",
            executor_id=settings.id,
            socket=str(settings.socket),
            tcp=running.tcp_address,
            slots=settings.max_calls,
            backend=backends.default,
            available=sorted(backends.available),
            unavailable=backends.unavailable,
        )
        await _drain_when_asked(running, stop, drain or asyncio.Event(), settings.drain_grace_s)
    finally:
        await backends.close()
    with contextlib.suppress(FileNotFoundError):
        settings.socket.unlink()


async def _drain_when_asked(
    running: Running, stop: asyncio.Event, drain: asyncio.Event, grace_s: float
) -> None:
    stopped = asyncio.create_task(stop.wait())
    drained = asyncio.create_task(drain.wait())
    try:
        await asyncio.wait({stopped, drained}, return_when=asyncio.FIRST_COMPLETED)
        await running.drain()
        admission = running.admission
        log.info("executor.draining", busy=admission.busy, on="stop" if stop.is_set() else "drain")
        if not stop.is_set():
            idle = asyncio.create_task(admission.wait_idle())
            await asyncio.wait({idle, stopped}, return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()
        try:
            async with asyncio.timeout(grace_s):
                await admission.wait_idle()
        except TimeoutError:
            log.warning("executor.drain_timeout", grace_s=grace_s, killed=admission.busy)
        log.info("executor.stopping")
        await running.stop(_FLUSH_S)
    finally:
        stopped.cancel()
        drained.cancel()
