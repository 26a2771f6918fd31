"""`nexflow secret set|rotate|list|rm`: secrets over HTTP, with a `secrets:admin` token.

A value is never an argument (argv is visible to every user of the machine and lands in
shell history): `set` and `rotate` read it from standard input when that is not a
terminal (all of it, less one trailing newline), else ask for it twice without echo.
A bad name or value exits 2 before anything is sent; a refusal of the server exits 1.
"""

from __future__ import annotations

import json
import sys
from urllib.parse import quote

import typer

from ..errors import InvalidInput
from ._client import DEFAULT_HOME, DEFAULT_URL, HomeOpt, TokenOpt, UrlOpt, call_api, fail

app = typer.Typer(help="Manage secrets (values in, never out).", no_args_is_help=True)


def _name(name: str) -> str:
    from ..secrets import check_name  # the store's rules, without importing it up front

    try:
        return check_name(name)
    except InvalidInput as exc:
        fail(exc.message, code=2)


def _read_value() -> str:
    if sys.stdin.isatty():
        value = typer.prompt("Value", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    from ..secrets import check_value

    try:
        return check_value(value)
    except InvalidInput as exc:
        fail(exc.message, code=2)


@app.command("set")
def secret_set(
    name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME
) -> None:
    """Store a new secret NAME; the value comes from stdin or a hidden prompt."""
    body = {"name": _name(name), "value": _read_value()}
    info = call_api("POST", url, "/api/v1/secrets", token, home, json=body).json()
    typer.echo(f"stored secret {info['name']} (version {info['version']})")


@app.command("rotate")
def secret_rotate(
    name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME
) -> None:
    """Give secret NAME a new value (stdin or a hidden prompt); its version goes up by one."""
    path = f"/api/v1/secrets/{quote(_name(name), safe='')}"
    info = call_api("PUT", url, path, token, home, json={"value": _read_value()}).json()
    typer.echo(f"rotated secret {info['name']} (version {info['version']})")


@app.command("list")
def secret_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """List secrets: name, version, last change and by whom (never a value)."""
    items = call_api("GET", url, "/api/v1/secrets", token, home).json()["secrets"]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    for item in items:
        typer.echo(
            f"{item['name']:<32} v{item['version']:<4} {item['updated_at']}  {item['updated_by']}"
        )


@app.command("rm")
def secret_rm(
    name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME
) -> None:
    """Delete secret NAME; calls granted it fail secret_missing until it is set again."""
    call_api("DELETE", url, f"/api/v1/secrets/{quote(_name(name), safe='')}", token, home)
    typer.echo(f"deleted secret {name}")
