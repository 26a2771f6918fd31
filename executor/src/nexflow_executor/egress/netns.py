"""Sockets in other network namespaces, made from threads that visit them.

A socket belongs to the network namespace it was created in, whoever holds it later.
So the executor puts the proxy's listening socket *inside* a sandbox's namespace (which
has nothing but `lo`) and keeps serving it from its own event loop: the sandbox reaches
`127.0.0.1:<port>` and nothing else, and no process of ours runs in there.

`setns(CLONE_NEWNET)` changes only the calling thread, so each visit happens on a fresh
thread that goes back home before it ends (or dies with the namespace it could not
leave). `EgressNamespace` is the other direction: one long-lived thread that lives in the
namespace the proxy connects out from (setting `egress.netns`), making outbound sockets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["EgressNamespace", "listener_in_process_netns"]

_BACKLOG = 64


async def _on_own_thread[T](fn: Callable[[], T]) -> T:
    """Run `fn` on a new thread (never a pool's: it may leave the thread in a namespace)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def body() -> None:
        try:
            result = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=body, name="nexflow-netns", daemon=True).start()
    return await future


def _settle[T](future: asyncio.Future[T], result: T | None, exc: BaseException | None) -> None:
    if future.cancelled():
        if isinstance(result, socket.socket):
            result.close()
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _visit[T](target_fd: int, work: Callable[[], T]) -> T:
    """On this thread: enter `target_fd`, run `work`, come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(target_fd).st_ino == os.fstat(home).st_ino:
            raise OSError("refusing to serve a sandbox proxy in the executor's own namespace")
        os.setns(target_fd, os.CLONE_NEWNET)
        try:
            return work()
        finally:
            os.setns(home, os.CLONE_NEWNET)  # if this fails the thread ends where it is
    finally:
        os.close(home)


async def listener_in_process_netns(pid: int, port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` inside the network namespace of `pid`."""

    def make() -> socket.socket:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return _visit(fd, lambda: _listener(port))
        finally:
            os.close(fd)

    return await _on_own_thread(make)


class EgressNamespace:
    """Makes outbound sockets in the namespace at `path` (e.g. /run/netns/NAME).

    One dedicated thread enters the namespace once and stays there for the executor's
    life; it only ever creates sockets, which are then used from the event loop.
    """

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # fails early on a wrong path
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="nexflow-egress-netns",
            initializer=os.setns,
            initargs=(fd, os.CLONE_NEWNET),
        )
        try:
            self._pool.submit(os.close, fd).result(timeout=10)  # runs after the initializer
        except Exception as exc:
            self._pool.shutdown(wait=False)
            raise OSError(f"cannot enter the egress network namespace {path}: {exc}") from exc

    async def socket(self, family: int, kind: int) -> socket.socket:
        """A new non-blocking socket in the egress namespace."""
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(self._pool, socket.socket, family, kind)
        sock.setblocking(False)
        return sock

    def close(self) -> None:
        self._pool.shutdown(wait=False)
