"""`nexflow gateway`: the chat gateway alone, against a control plane elsewhere.

It is the same server `nexflow up` starts (`nexflow-gateway serve`, which this command
becomes by `exec`, so signals and the exit status are the server's own). Before that it
checks what would otherwise fail later and less plainly, each an exit 2 with one line:
a token is given (`NEXFLOW_GATEWAY__TOKEN` or `--token-file`: never an argument, which
any local user can read in the process list), the control plane answers at the URL, and
it knows the token. The chat tables live in `--database-url` (default: the home's
`nexflow.db`), migrated here like `nexflow db upgrade` does (a no-op when current).
The token reaches the server in its environment only, and neither this command nor the
server writes it to a log line.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from sqlalchemy.engine import make_url

from ..settings import Settings
from ._client import DEFAULT_HOME, DEFAULT_URL, fail

TOKEN_ENV = "NEXFLOW_GATEWAY__TOKEN"  # noqa: S105 - a variable's name, not a secret
_NEEDED = "skills:read"


def run(
    control_plane: Annotated[
        str,
        typer.Option(
            "--control-plane",
            envvar="NEXFLOW_GATEWAY__CONTROL_PLANE_URL",
            help="The control plane's URL",
        ),
    ] = DEFAULT_URL,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help=f"A file holding the gateway's control-plane token (else ${TOKEN_ENV})",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8090,
    home: Annotated[
        Path, typer.Option("--home", envvar="NEXFLOW_HOME", help="Home (USER.md, nexflow.db)")
    ] = DEFAULT_HOME,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="NEXFLOW_DATABASE_URL",
            help="Where chat sessions are kept (SQLAlchemy async URL; default HOME/nexflow.db)",
        ),
    ] = None,
) -> None:
    """Run the chat gateway alone (web chat API, Telegram, Discord) against a control plane."""
    token = _token(token_file)
    url = control_plane.rstrip("/")
    _check_control_plane(url, token)
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = database_url or Settings(home=home).resolved_database_url
    _migrate(database)
    program = _program()
    env = {
        **os.environ,
        TOKEN_ENV: token,
        "NEXFLOW_GATEWAY__CONTROL_PLANE_URL": url,
        "NEXFLOW_DATABASE_URL": database,
        "NEXFLOW_HOME": str(home),
    }
    typer.echo(f"gateway for {url} on http://{host}:{port}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, [program, "serve", "--host", host, "--port", str(port)], env)  # noqa: S606 - becomes the server: no shell, fixed arguments


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            fail(f"--token-file: cannot read {token_file}: {exc.strerror}", code=2)
        if not token:
            fail(f"--token-file: {token_file} is empty", code=2)
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        fail(
            f"no token: set {TOKEN_ENV} or pass --token-file (a control-plane token with "
            "skills:read; calls:run_as and approvals:relay for Telegram and Discord)",
            code=2,
        )
    return token


def _check_control_plane(url: str, token: str) -> None:
    """The control plane answers at `url` and knows `token` (with the scope to list the
    skills), or exit 2 saying which."""
    try:
        reply = httpx.get(
            f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        fail(f"--control-plane: cannot reach {url}: {type(exc).__name__}", code=2)
    except ValueError as exc:  # not a URL httpx can use
        fail(f"--control-plane: {url!r} is not a usable URL: {exc}", code=2)
    if reply.status_code in (401, 403):
        fail(f"the control plane at {url} does not accept the gateway's token", code=2)
    try:
        me = reply.json()
    except ValueError:
        me = None
    if reply.status_code != 200 or not isinstance(me, dict):
        fail(f"--control-plane: {url} is not a Nexflow control plane (HTTP {reply.status_code})")
    if _NEEDED not in me.get("scopes", []):
        fail(f"the gateway's token (user {me.get('id')!r}) lacks {_NEEDED}", code=2)


def _migrate(database: str) -> None:
    from ..db import Database

    async def upgrade() -> None:
        await (await Database.open(database)).close()

    try:
        asyncio.run(upgrade())
    except Exception as exc:  # a CLI never shows a traceback
        shown = make_url(database).render_as_string(hide_password=True)
        fail(f"--database-url: cannot open or migrate {shown}: {exc}", code=2)


def _program() -> str:
    exe = Path(sys.executable).with_name("nexflow-gateway")
    found = str(exe) if exe.exists() else shutil.which("nexflow-gateway")
    if found is None:
        fail("nexflow-gateway is not installed (the `nexflow-gateway` package)", code=2)
    return found
