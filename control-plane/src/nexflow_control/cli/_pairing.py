"""`nexflow pairing list|confirm|reject`, over the HTTP API (`accounts:admin`)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer

from ._client import DEFAULT_HOME, DEFAULT_URL, HomeOpt, TokenOpt, UrlOpt, call_api, fail

app = typer.Typer(
    help="Confirm or reject the pairing codes unknown chat senders were given.",
    no_args_is_help=True,
)

_CODE = re.compile(r"^[A-Za-z0-9]{8}$")
CodeArg = Annotated[str, typer.Argument(help="The 8-character code the sender was shown")]


def _check(code: str) -> str:
    if not _CODE.match(code):
        fail(f"{code!r} is not a pairing code (8 letters and digits)", code=2)
    return code.upper()


def _line(p: dict[str, Any]) -> str:
    return f"{p['code']}  {p['identity']:<24} {p['channel']:<28} expires {p['expires_at']}"


@app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """The codes waiting for an admin, newest first."""
    found = call_api("GET", url, "/api/v1/pairings", token, home).json()["pairings"]
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for pairing in found:
        typer.echo(_line(pairing))
    if not found:
        typer.echo("no pending pairing codes", err=True)


@app.command("confirm")
def confirm(
    code: CodeArg,
    user: Annotated[str, typer.Option("--user", help="The user the identity becomes")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Link the code's chat identity to USER (the code is spent)."""
    path = f"/api/v1/pairings/{_check(code)}/confirm"
    done = call_api("POST", url, path, token, home, json={"user": user}).json()
    typer.echo(f"{done['identity']} is now {done['user']} (code {done['code']})")


@app.command("reject")
def reject(
    code: CodeArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Refuse the code: the sender stays unknown."""
    done = call_api("POST", url, f"/api/v1/pairings/{_check(code)}/reject", token, home).json()
    typer.echo(f"{done['code']} rejected ({done['identity']})")
