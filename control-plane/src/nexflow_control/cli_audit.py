"""`nexflow audit verify|tail`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from .audit import AuditLog, verify
from .cli_client import DEFAULT_HOME, error_message, fail, request, resolve_token
from .settings import Settings

app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)


@app.command("verify")
def verify_cmd(
    home: Annotated[Path, typer.Option("--home", envvar="NEXFLOW_HOME")] = DEFAULT_HOME,
    database_url: Annotated[
        str | None, typer.Option("--database-url", envvar="NEXFLOW_DATABASE_URL")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Walk the hash chain in the database itself; exit 1 and name the first bad event if broken."""
    url = database_url or Settings(home=home).resolved_database_url
    sqlite_path = url.partition(":///")[2] if url.startswith("sqlite") else ""
    if sqlite_path and not Path(sqlite_path).is_file():
        fail(f"no audit log at {sqlite_path}")

    async def run() -> dict[str, object]:
        log = await AuditLog.open(url)
        try:
            return (await verify(log)).to_dict()
        finally:
            await log.close()

    try:
        report = asyncio.run(run())
    except Exception as exc:  # a CLI never shows a traceback
        fail(f"cannot read the audit log at {url}: {exc}")
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    elif report["ok"]:
        typer.echo(
            f"ok: {report['checked']} events, "
            f"chain head #{report['head_seq']} {report['head_hash']}"
        )
    else:
        typer.secho(
            f"BROKEN at event #{report['first_bad_seq']}: "
            f"{report['problem']} — {report['message']}",
            fg=typer.colors.RED,
        )
    raise typer.Exit(0 if report["ok"] else 1)


@app.command("tail")
def tail(
    limit: Annotated[int, typer.Option("-n", "--limit")] = 20,
    call_id: Annotated[str | None, typer.Option("--call")] = None,
    url: Annotated[str, typer.Option("--url", envvar="NEXFLOW_URL")] = "http://127.0.0.1:8080",
    token: Annotated[str | None, typer.Option("--token")] = None,
    home: Annotated[Path, typer.Option("--home", envvar="NEXFLOW_HOME")] = DEFAULT_HOME,
) -> None:
    """Print the newest events, oldest first."""
    path = f"/api/v1/audit?limit={limit}" + (f"&call_id={call_id}" if call_id else "")
    resp = request("GET", url, path, resolve_token(token, home))
    if resp.status_code != 200:
        fail(error_message(resp))
    for e in reversed(resp.json()["events"]):
        codes = ",".join(e.get("reason_codes") or [])
        typer.echo(
            f"#{e['seq']:<6} {e['ts']} {e['action']:<15} {e.get('call_id') or '-':<26} "
            f"{e.get('actor') or '-':<8} {e.get('skill') or '-':<14} "
            f"{e.get('decision') or ''} {codes}"
        )
