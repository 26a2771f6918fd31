"""`nexflow skill list|show|lint|test|call`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._client import (
    DEFAULT_HOME,
    HomeOpt,
    TokenOpt,
    UrlOpt,
    call_api,
    error_message,
    fail,
    request,
    resolve_token,
)

app = typer.Typer(help="Inspect, lint and run skills.", no_args_is_help=True)


@app.command("lint")
def lint(
    paths: Annotated[
        list[Path], typer.Argument(help="Skill folders, SKILL.md files or folders of skills")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
) -> None:
    """Check SKILL.md files: exit 0 valid, 1 invalid, 2 usage error."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or directory: {', '.join(missing)}", code=2)
    from ..skills import lint_command  # the HTTP commands of this group do not need it

    raise typer.Exit(lint_command(paths, as_json, sys.stdout))


@app.command("test")
def test(
    path: Annotated[Path, typer.Argument(help="A skill folder, or a folder of skill folders")],
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", help="The workspace the sandbox sees (default: a fresh temp dir)"
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Let the sandbox reach HOST[:PORT] (or HOST:*, *.DOMAIN) (repeatable)",
        ),
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="Sandbox backend: auto, nsjail or docker")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
) -> None:
    """Run the skill's examples in the real sandbox: exit 0 all passed, 1 any failed,
    2 usage or lint error."""
    if not path.is_dir():
        fail(f"{path}: not a skill folder", code=2)
    if workspace is not None and not workspace.is_dir():
        fail(f"--workspace: {workspace} is not a directory", code=2)
    if backend not in ("auto", "docker", "nsjail"):
        fail(f"--backend: {backend!r} is not one of auto, docker, nsjail", code=2)
    from ._skill_test import run_command  # the sandbox and the calls: loaded for this alone

    raise typer.Exit(run_command(path, workspace, allow_host or [], backend, as_json))


@app.command("list")
def list_(
    url: UrlOpt = "http://127.0.0.1:8080", token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME
) -> None:
    """List installed skills."""
    body = call_api("GET", url, "/api/v1/skills", token, home).json()
    for s in body["skills"]:
        typer.echo(f"{s['name']:<24} {s.get('version') or '-':<10} {s.get('description', '')[:70]}")
    for p in body.get("problems", []):
        typer.secho(f"! {p.get('file')}:{p.get('line')}: {p.get('message')}", err=True, fg="yellow")


@app.command("show")
def show(
    name: str,
    url: UrlOpt = "http://127.0.0.1:8080",
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Show one skill as JSON."""
    detail = call_api("GET", url, f"/api/v1/skills/{name}", token, home).json()
    typer.echo(json.dumps(detail, indent=2, ensure_ascii=False))


@app.command("call")
def call(
    name: str,
    input_json: Annotated[
        str, typer.Option("--input", help="Input as a JSON object, or @FILE")
    ] = "{}",
    url: UrlOpt = "http://127.0.0.1:8080",
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Run a skill and print its result as JSON; exit 1 unless it succeeded."""
    text = Path(input_json[1:]).read_text() if input_json.startswith("@") else input_json
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"--input is not valid JSON: {exc}", code=2)
    resp = request(
        "POST", url, f"/api/v1/skills/{name}", resolve_token(token, home), json={"input": value}
    )
    if resp.status_code == 202:  # waits for a human; not a success (yet)
        pending = resp.json()
        typer.echo(json.dumps(pending, indent=2, ensure_ascii=False))
        fail(f"pending approval {pending['approval_id']}: nexflow approval approve|deny ID")
    if resp.status_code != 200:
        fail(error_message(resp))
    result = resp.json()
    typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    raise typer.Exit(0 if result.get("status") == "succeeded" else 1)
