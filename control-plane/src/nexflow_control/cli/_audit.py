"""`nexflow audit verify|tail`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..audit import AuditLog, CheckpointError, verify_with_checkpoints
from ..audit.checkpoint import load_public_key
from ..settings import Settings
from ._client import DEFAULT_HOME, error_message, fail, request, resolve_token

app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)


@app.command("verify")
def verify_cmd(
    home: Annotated[Path, typer.Option("--home", envvar="NEXFLOW_HOME")] = DEFAULT_HOME,
    database_url: Annotated[
        str | None, typer.Option("--database-url", envvar="NEXFLOW_DATABASE_URL")
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints", help="checkpoint file (default: HOME/checkpoints/audit.jsonl)"
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="public key to verify them with (default: HOME/keys/audit-checkpoint.pub)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Walk the hash chain in the database and hold it against the signed checkpoints;
    exit 1 and name the first bad event, or the events missing from the end."""
    settings = Settings(home=home)
    url = database_url or settings.resolved_database_url
    sqlite_path = url.partition(":///")[2] if url.startswith("sqlite") else ""
    if sqlite_path and not Path(sqlite_path).is_file():
        fail(f"no audit log at {sqlite_path}")
    cp_file = checkpoints or settings.checkpoint_file
    key = _public_key(public_key or settings.checkpoint_public_key_file, cp_file)

    async def run() -> dict[str, Any]:
        log = await AuditLog.open(url)
        try:
            return (await verify_with_checkpoints(log, cp_file, key)).to_dict()
        finally:
            await log.close()

    try:
        report = asyncio.run(run())
    except Exception as exc:  # a CLI never shows a traceback
        fail(f"cannot read the audit log at {url}: {exc}")
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print(report)
    raise typer.Exit(0 if report["ok"] else 1)


def _public_key(path: Path, cp_file: Path) -> Ed25519PublicKey | None:
    """The verifying key; None only when there is no checkpoint file to check with it."""
    if not path.exists():
        if cp_file.exists():
            fail(f"no public key at {path} to check the checkpoints in {cp_file} (--public-key)")
        return None
    try:
        return load_public_key(path)
    except CheckpointError as exc:
        fail(str(exc))


def _print(report: dict[str, Any]) -> None:
    for warning in report["warnings"]:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    if report["ok"]:
        cps = report["checkpoints_checked"]
        vouched = f", checkpoints: {cps}, last #{report['last_checkpoint_seq']}" if cps else ""
        typer.echo(
            f"ok: {report['checked']} events, "
            f"chain head #{report['head_seq']} {report['head_hash']}{vouched}"
        )
    elif report["problem"] == "missing_tail":
        typer.secho(
            f"BROKEN: missing tail: events #{report['first_bad_seq']}.."
            f"#{report['last_checkpoint_seq']} — {report['message']}",
            fg=typer.colors.RED,
        )
    elif report["problem"] == "bad_checkpoint_signature":
        typer.secho(
            f"BROKEN checkpoint at line {report['checkpoint_line']}: "
            f"{report['problem']} — {report['message']}",
            fg=typer.colors.RED,
        )
    else:
        typer.secho(
            f"BROKEN at event #{report['first_bad_seq']}: "
            f"{report['problem']} — {report['message']}",
            fg=typer.colors.RED,
        )


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
