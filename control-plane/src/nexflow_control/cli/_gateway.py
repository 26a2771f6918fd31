"""`nexflow up` starts the chat gateway beside the control plane when the web chat is on
(the default; `--no-web-chat` or `NEXFLOW_WEB_CHAT=false` turns it off) or a Telegram or
Discord bot token is set, with or without a model (without one, chats answer commands):
its own process on a free loopback port, the same database and home, the chat routes
proxied to it (`NEXFLOW_GATEWAY_URL`) when the web chat is on. Like the control plane it
is unprivileged: it reaches skills only through the control plane's HTTP API, never the
executor or Docker.

Its token belongs to the user `gateway` and holds `skills:read` (it lists the tools; a web
chat's skill calls are made with the chatting person's own credential), `calls:run_as`
(a Telegram or Discord sender's calls are made as the user that identity is linked to)
and `approvals:relay` (a human's button press is handed to the control plane, which
judges it): never `approvals:decide`, `accounts:admin` or `secrets:admin`. A new one is
made at each start and the previous start's is revoked. The gateway inherits this
process's environment, so `NEXFLOW_TELEGRAM__*` and `NEXFLOW_DISCORD__*` reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from pathlib import Path

import structlog
from nexflow_common.parent import parent_env

from ..accounts import AccountStore, Actor, Scope
from ..errors import Conflict
from ..settings import Settings

log = structlog.get_logger("nexflow.up")
USER = "gateway"
TOKEN_NAME = "nexflow-up"  # noqa: S105 - the token's label, not a secret
_ACTOR = Actor("nexflow-up")
TOKEN_SCOPES = frozenset({Scope.SKILLS_READ, Scope.CALLS_RUN_AS, Scope.APPROVALS_RELAY})


CHANNEL_TOKENS = ("NEXFLOW_TELEGRAM__TOKEN", "NEXFLOW_DISCORD__TOKEN")


def wanted(settings: Settings) -> bool:
    """Start one: no gateway elsewhere is named, and the web chat is on or a chat channel
    has a bot token (the gateway reads the same variables)."""
    channels = any(os.environ.get(name) for name in CHANNEL_TOKENS)
    return settings.gateway_url is None and (settings.web_chat or channels)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def gateway_token(accounts: AccountStore) -> str:
    """A fresh token of the user `gateway` (made on first use) with `TOKEN_SCOPES`."""
    with contextlib.suppress(Conflict):  # made by an earlier start
        await accounts.create_user(USER, ["gateway"], actor=_ACTOR)
    for old in await accounts.list_tokens(USER):
        if old.name == TOKEN_NAME and old.revoked_at is None:
            await accounts.revoke_token(old.id, actor=_ACTOR)
    _, secret = await accounts.create_token(
        USER, name=TOKEN_NAME, scopes=sorted(TOKEN_SCOPES), actor=_ACTOR
    )
    return secret


async def start(settings: Settings, port: int, token: str) -> asyncio.subprocess.Process:
    """`nexflow-gateway serve` on `port`, talking to this control plane (and ending when
    this process does: `die_with_parent`)."""
    exe = Path(sys.executable).with_name("nexflow-gateway")
    program = str(exe) if exe.exists() else (shutil.which("nexflow-gateway") or "nexflow-gateway")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    env = {
        **os.environ,
        "NEXFLOW_GATEWAY__TOKEN": token,
        "NEXFLOW_GATEWAY__CONTROL_PLANE_URL": f"http://{host}:{settings.port}",
        "NEXFLOW_DATABASE_URL": settings.resolved_database_url,
        "NEXFLOW_HOME": str(settings.home),
        **parent_env(),
    }
    proc = await asyncio.create_subprocess_exec(
        program, "serve", "--host", "127.0.0.1", "--port", str(port), env=env
    )
    log.info("gateway.started", url=f"http://127.0.0.1:{port}", pid=proc.pid)
    return proc
