"""`nexflow-executor`: serve the executor (unix socket; TCP with mutual TLS when configured).

SIGTERM or SIGINT: drain (refuse new calls, health NOT_SERVING), let running calls
finish for up to `drain_grace_s`, then exit. SIGUSR1: drain and exit once the last
running call has ended, with no time limit (a later SIGTERM applies the grace).

Exit codes: 0 after a graceful stop, 2 when it refuses to start (bad settings,
nsjail or cgroups unusable). Prints nothing but log lines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

import structlog
from nexflow_common.logs import configure_logging
from nexflow_common.parent import die_with_parent
from pydantic import ValidationError

from nexflow_executor.errors import ExecutorError
from nexflow_executor.server import serve
from nexflow_executor.settings import Settings
from nexflow_executor.tracing import start_tracing

__all__ = ["main"]

log = structlog.get_logger("nexflow_executor")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nexflow-executor", description=__doc__)
    parser.add_argument(
        "--socket", type=Path, help="unix socket path (default ~/.nexflow/executor.sock)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="this executor's own state; names its containers (default ~/.nexflow/executor-state)",
    )
    parser.add_argument(
        "--backend",
        choices=["auto", "docker", "nsjail"],
        help="default sandbox backend (default auto: docker when the engine answers)",
    )
    parser.add_argument(
        "--forbid",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="host path never mountable, nor any directory containing it (repeatable)",
    )
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace) -> Settings:
    base = Settings()
    overrides: dict[str, object] = {}
    if args.socket is not None:
        overrides["socket"] = args.socket.expanduser()
    if args.state_dir is not None:
        overrides["state_dir"] = args.state_dir.expanduser()
    if args.backend is not None:
        overrides["backend"] = args.backend
    if args.forbid:
        overrides["forbidden_paths"] = [
            *base.forbidden_paths,
            *(p.expanduser() for p in args.forbid),
        ]
    return base.model_copy(update=overrides)


HARD_DEADLINE_EXTRA_S = 15.0
"""After a stop signal, the process exits by drain_grace_s + this whatever hangs (a
sandbox's pipes that never close, a wedged event loop): a supervisor restarting us must
not wait forever for the state directory's lock. Sandboxes left behind are reaped at
next start."""


def _arm_deadline(after_s: float) -> None:
    def expire() -> None:
        log.error("executor.stop_deadline", after_s=after_s)
        os._exit(3)

    timer = threading.Timer(after_s, expire)
    timer.daemon = True
    timer.start()


async def _run(settings: Settings) -> None:
    stop, drain = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_stop() -> None:
        if not stop.is_set():
            _arm_deadline(settings.drain_grace_s + HARD_DEADLINE_EXTRA_S)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop)
    loop.add_signal_handler(signal.SIGUSR1, drain.set)
    await serve(settings, stop, drain)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `nexflow-executor`."""
    die_with_parent()  # when `nexflow up` started us
    args = _parse(argv)
    configure_logging()
    try:
        settings = _settings(args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        log.error("executor.refused", reason=f"invalid settings: {problems}")
        return 2
    tracing = start_tracing(settings.otel, settings.id)
    try:
        asyncio.run(_run(settings))
    except ExecutorError as exc:
        log.error("executor.refused", reason=exc.message)
        return 2
    except OSError as exc:
        log.error("executor.refused", reason=f"{exc.strerror}: {exc.filename}")
        return 2
    finally:
        if tracing is not None:
            tracing.shutdown()  # sends the spans still batched
    log.info("executor.stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
