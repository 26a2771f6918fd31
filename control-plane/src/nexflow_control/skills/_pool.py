"""Validation worker processes: where an input goes when the inline slice is not enough.

A validation in pure Python holds the GIL, so on a thread it still stalls the event loop;
in a process of its own it cannot. `ValidationPool` keeps a few long-lived worker
processes (spawned lazily, on the first input that needs one, at a lower CPU priority
than the server). Each worker caches its validators by skill key, so a schema crosses
the pipe once per worker; the input crosses as the JSON bytes the call already made.

The answer is a plain tuple (`InputProblem` fields), never a pickled exception. A
worker that overruns `timeout_s` is killed and replaced, and the input is refused as
`input_too_complex`; one that dies, or no free worker within `wait_s`, raises
`ValidationUnavailable`. Nothing waits forever.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

from ._checking import NEED_SCHEMA, InputProblem

__all__ = ["ValidationPool", "ValidationUnavailable"]

_WORKER = "nexflow_control.skills._worker"


class ValidationUnavailable(RuntimeError):
    """No validation worker could answer (it died, or all stayed busy too long)."""


class _Overran(Exception):
    """The worker did not answer within the time allowed."""


class _Worker:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            # A fresh interpreter, not a fork of the server (its threads, sockets and
            # state) nor multiprocessing's spawn (which re-runs the server's __main__);
            # -P keeps the working directory off the import path.
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", _WORKER, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.ready = False
        self.known: set[str] = set()

    async def receive(self, timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        fd = self.conn.fileno()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, wake)
        try:
            async with asyncio.timeout(timeout_s):
                await readable
        except TimeoutError:
            raise _Overran from None
        finally:
            loop.remove_reader(fd)
        return self.conn.recv()  # small, and already in the pipe

    def kill(self) -> None:
        self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=1)


class ValidationPool:
    """Up to `workers` validation processes, started on first use."""

    def __init__(
        self,
        *,
        workers: int = 2,
        timeout_s: float = 10.0,
        wait_s: float = 10.0,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.size = workers
        self.timeout_s = timeout_s
        self.wait_s = wait_s
        self.start_timeout_s = start_timeout_s
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._slots: asyncio.Semaphore | None = None

    async def check(
        self, key: str, schema: dict[str, Any], encoded: bytes, *, root: str = "input"
    ) -> InputProblem | None:
        """The worker's verdict on the value (`encoded`, its JSON) against `schema`;
        `root` names it in the problem (see `check_input`)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        try:
            async with asyncio.timeout(self.wait_s):
                await self._slots.acquire()
        except TimeoutError:
            raise ValidationUnavailable(
                f"every validation worker stayed busy for {self.wait_s:g} s"
            ) from None
        try:
            worker = self._idle.pop() if self._idle else self._start()
        except BaseException:
            self._slots.release()
            raise
        try:
            problem = await self._ask(worker, key, schema, encoded, root)
        except _Overran:
            self._discard(worker)
            if not worker.ready:
                raise ValidationUnavailable("a validation worker did not start in time") from None
            why = f"{root}: validation took longer than {self.timeout_s:g} s"
            return InputProblem("input_too_complex", why, root)
        except (OSError, EOFError):
            self._discard(worker)
            raise ValidationUnavailable("the validation worker stopped") from None
        except BaseException:  # cancelled mid-answer: the pipe's state is unknown
            self._discard(worker)
            raise
        self._idle.append(worker)
        self._slots.release()
        return problem

    def _start(self) -> _Worker:
        try:
            worker = _Worker()
        except OSError as exc:
            raise ValidationUnavailable(f"cannot start a validation worker: {exc}") from None
        self._workers.add(worker)
        return worker

    async def _ask(
        self, worker: _Worker, key: str, schema: dict[str, Any], encoded: bytes, root: str
    ) -> InputProblem | None:
        if not worker.ready:
            if await worker.receive(self.start_timeout_s) != "ready":
                raise EOFError
            worker.ready = True
        worker.conn.send((key, None if key in worker.known else schema, encoded, root))
        answer = await worker.receive(self.timeout_s)
        if answer == NEED_SCHEMA:
            worker.conn.send((key, schema, encoded, root))
            answer = await worker.receive(self.timeout_s)
        worker.known.add(key)
        return None if answer is None else InputProblem(*answer)

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        self._workers.discard(worker)
        if self._slots is not None:
            self._slots.release()

    def close(self) -> None:
        """Stop every worker (each also stops by itself when the server's end of its
        pipe closes, so a server that exits without calling this leaves none behind)."""
        for worker in list(self._workers):
            worker.kill()
        self._workers.clear()
        self._idle.clear()
        self._slots = None
