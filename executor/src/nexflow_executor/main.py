"""`nexflow-executor`: serve the executor on a unix socket until SIGINT/SIGTERM.

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
from pydantic import ValidationError

from nexflow_executor.errors import ExecutorError
from nexflow_executor.log_setup import configure_logging
from nexflow_executor.server import serve
from nexflow_executor.settings import Settings

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


GRACE_S = 5.0
HARD_DEADLINE_S = GRACE_S + 15.0
"""After a stop signal, the process exits by this time whatever hangs (a sandbox's
pipes that never close, a wedged event loop): a supervisor restarting us must not wait
forever for the state directory's lock. Sandboxes left behind are reaped at next start."""


def _arm_deadline() -> None:
    def expire() -> None:
        log.error("executor.stop_deadline", after_s=HARD_DEADLINE_S)
        os._exit(3)

    timer = threading.Timer(HARD_DEADLINE_S, expire)
    timer.daemon = True
    timer.start()


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            _arm_deadline()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    await serve(settings, stop, grace_s=GRACE_S)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `nexflow-executor`."""
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
    try:
        asyncio.run(_run(settings))
    except ExecutorError as exc:
        log.error("executor.refused", reason=exc.message)
        return 2
    except OSError as exc:
        log.error("executor.refused", reason=f"{exc.strerror}: {exc.filename}")
        return 2
    log.info("executor.stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
