"""`nexflow up`: the executor and the control plane together, in the foreground.

The executor runs as its own process (it is the privileged side); the control plane
runs in this one. Ctrl-C or SIGTERM stops the control plane gracefully, then the
executor; if the executor dies, the control plane is stopped too and `up` exits 1.
If this process dies without stopping it (SIGKILL, a crash), the kernel sends the
executor SIGTERM (parent-death signal); a restarted `up` waits (bounded) for such a
predecessor to finish stopping and release its state directory before starting its own.

With `--opa` a private OPA server (`policy.LocalOpaServer`) starts first and the control
plane decides with it (`policy.opa_url`); it is stopped last, dies with this process
(parent-death signal) and, like the executor, stops the stack if it exits on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from pathlib import Path

import structlog
import uvicorn
from fastapi import FastAPI
from nexflow_common.logs import configure_logging
from nexflow_common.parent import parent_env

from ..app import create_app, prepare_home
from ..policy import LocalOpaServer, OpaNotFound, OpaStartError
from ..settings import Settings
from . import _gateway
from ._local_executor import executor_binary, stop_process, wait_for_executor

log = structlog.get_logger("nexflow.up")


def _executor_command(settings: Settings) -> list[str]:
    cmd = [executor_binary()]
    cmd += ["--socket", str(settings.resolved_executor_socket)]
    # Its own state dir per home: it names the executor's containers, which start-up reaps.
    cmd += ["--state-dir", str(_executor_state_dir(settings))]
    cmd += ["--backend", settings.sandbox.backend]
    # The executor must never mount the control plane's own state into a sandbox.
    private = [settings.home / p for p in ("nexflow.db", "nexflow.db-wal", "nexflow.db-shm")]
    private += [settings.token_file, settings.resolved_executor_socket.parent]
    private += [settings.checkpoint_key_file.parent, settings.checkpoint_file.parent]
    for path in private:
        cmd += ["--forbid", str(path)]
    return cmd


def _executor_env(settings: Settings) -> dict[str, str]:
    """Our environment, plus the volumes by the names the control plane grants them, and
    our trace endpoint unless the executor is given its own."""
    volumes = {name: str(root) for name, root in settings.resolved_volumes.items()}
    env = {**os.environ, "NEXFLOW_EXECUTOR_VOLUMES": json.dumps(volumes), **parent_env()}
    if settings.otel.endpoint is not None:
        env.setdefault("NEXFLOW_EXECUTOR_OTEL__ENDPOINT", str(settings.otel.endpoint))
        env.setdefault("NEXFLOW_EXECUTOR_OTEL__FLUSH_MS", str(settings.otel.flush_ms))
    return env


def _executor_state_dir(settings: Settings) -> Path:
    return settings.resolved_executor_socket.parent / "executor-state"


def _state_dir_free(state_dir: Path) -> bool:
    """Whether no executor holds `state_dir`'s lock (the executor's `lock_state_dir`)."""
    try:
        fd = os.open(state_dir / "executor.lock", os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock, if we got it
    return True


async def _wait_for_predecessor(settings: Settings, timeout_s: float = 30) -> None:
    """After a crash the old executor may still be stopping (its running calls get a
    grace period): wait until it lets go of the state directory. If it never does, the
    new executor refuses to start and says why."""
    state_dir = _executor_state_dir(settings)
    deadline = time.monotonic() + timeout_s
    if _state_dir_free(state_dir):
        return
    log.warning("executor.predecessor_running", state_dir=str(state_dir))
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if _state_dir_free(state_dir):
            return


def give_workspace_to_sandbox(settings: Settings) -> None:
    """As root, hand the home's own workspace directory to the sandbox's outside uid.

    The executor maps the sandbox to an unprivileged uid (NEXFLOW_EXECUTOR_SANDBOX_UID,
    65534 by default), which must be able to write a read-write grant. Only the default
    workspace inside the Nexflow home is changed, and only the directory itself: files
    the user puts there stay theirs (readable by the sandbox if world-readable).
    """
    ws = settings.resolved_workspace
    if os.geteuid() != 0 or not ws.is_relative_to(settings.home.resolve()):
        return
    uid = int(os.environ.get("NEXFLOW_EXECUTOR_SANDBOX_UID", "65534"))
    gid = int(os.environ.get("NEXFLOW_EXECUTOR_SANDBOX_GID", str(uid)))
    st = ws.stat()
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(ws, uid, gid)
        ws.chmod(0o755)


def _with_local_opa(settings: Settings, opa: LocalOpaServer) -> Settings:
    policy = settings.policy.model_copy(update={"opa_url": opa.url, "opa_token": opa.token})
    return settings.model_copy(update={"policy": policy})


class _KnownStartFailure(logging.Filter):
    """Drops the server's copy of the traceback of a start failure the app already
    reported in one line (`control_plane.start_failed`: database down, bad policy)."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__()
        self._app = app

    def filter(self, record: logging.LogRecord) -> bool:
        known = getattr(self._app.state, "start_failed", None) is not None
        return not (known and record.getMessage().startswith("Traceback"))


async def _watch_opa(opa: LocalOpaServer | None, server: uvicorn.Server) -> bool:
    """Stop the stack if the OPA server exits on its own; True when it did."""
    if opa is None:
        return False
    while opa.running:  # noqa: ASYNC110 - a Popen child offers nothing to await
        await asyncio.sleep(0.5)
    if server.should_exit:
        return False
    log.error("opa.exited", status=opa.returncode)
    server.should_exit = True
    return True


async def serve_stack(settings: Settings, opa: LocalOpaServer | None = None) -> int:
    prepare_home(settings)
    give_workspace_to_sandbox(settings)
    settings.resolved_executor_socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    await _wait_for_predecessor(settings)
    proc = await asyncio.create_subprocess_exec(
        *_executor_command(settings),
        env=_executor_env(settings),  # it ends when we do (die_with_parent)
    )
    chat: asyncio.subprocess.Process | None = None
    chat_port = _gateway.free_port() if _gateway.wanted(settings) else None
    if chat_port is not None and settings.web_chat:
        settings = settings.model_copy(update={"gateway_url": f"http://127.0.0.1:{chat_port}"})
    try:
        await wait_for_executor(proc, settings.resolved_executor_socket)
        app = create_app(settings)
        logging.getLogger("uvicorn.error").addFilter(_KnownStartFailure(app))
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        server = uvicorn.Server(config)

        async def watch_executor() -> None:
            await proc.wait()
            if not server.should_exit:
                if server.started or proc.returncode:  # not: stopped after a failed start
                    log.error("executor.exited", status=proc.returncode)
                server.should_exit = True

        watcher = asyncio.create_task(watch_executor())
        opa_watcher = asyncio.create_task(_watch_opa(opa, server))
        log.info(
            "nexflow.up",
            url=f"http://{settings.host}:{settings.port}",
            web_ui=f"http://{settings.host}:{settings.port}/ui/",
            home=str(settings.home),
            token_file=str(settings.token_file),
        )

        async def start_chat() -> None:
            nonlocal chat
            while not server.started and not server.should_exit:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            if chat_port is not None and server.started:
                token = await _gateway.gateway_token(app.state.services.accounts)
                chat = await _gateway.start(settings, chat_port, token)

        chat_starter = asyncio.create_task(start_chat())
        await server.serve()
        chat_starter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await chat_starter
        executor_died = watcher.done()
        opa_died = opa_watcher.done() and opa_watcher.result()
        for task in (watcher, opa_watcher):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if executor_died or opa_died or not server.started:
            return 1
        return 0
    finally:
        if chat is not None:
            await stop_process(chat)
        await stop_process(proc)


def run_up(settings: Settings, *, opa: bool = False) -> int:
    configure_logging()
    local_opa = LocalOpaServer() if opa else None
    try:
        if local_opa is not None:
            local_opa.start()
            settings = _with_local_opa(settings, local_opa)
            log.info("opa.started", url=local_opa.url, pid=local_opa.pid)
        return asyncio.run(serve_stack(settings, local_opa))
    except (OpaNotFound, OpaStartError) as exc:
        log.error("nexflow.up_failed", reason=str(exc))
        return 1
    except SystemExit as exc:
        # A message of ours, or the server's exit status (3: the app failed to start,
        # already logged as control_plane.start_failed).
        reason = exc.code if isinstance(exc.code, str) else "the control plane did not start"
        log.error("nexflow.up_failed", reason=reason)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if local_opa is not None:
            local_opa.stop()
