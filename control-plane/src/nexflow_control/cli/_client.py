"""How CLI commands reach a running control plane: base URL and token discovery."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

DEFAULT_HOME = Path.home() / ".nexflow"
DEFAULT_URL = "http://127.0.0.1:8080"

UrlOpt = Annotated[str, typer.Option("--url", envvar="NEXFLOW_URL", help="Control plane URL")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="Bearer token")]
HomeOpt = Annotated[Path, typer.Option("--home", envvar="NEXFLOW_HOME", help="Nexflow home")]


def resolve_token(token: str | None, home: Path) -> str:
    if token:
        return token
    env = os.environ.get("NEXFLOW_TOKEN") or os.environ.get("NEXFLOW_ADMIN_TOKEN")
    if env:
        return env
    try:
        return (home / "admin.token").read_text().strip()
    except OSError:
        fail(f"no token: pass --token, set NEXFLOW_TOKEN, or run 'nexflow up --home {home}' first")


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def request(
    method: str,
    url: str,
    path: str,
    token: str,
    *,
    json: Any = None,
    params: dict[str, str] | None = None,
    timeout: float = 660,
) -> httpx.Response:
    try:
        return httpx.request(
            method,
            url.rstrip("/") + path,
            json=json,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach the control plane at {url}: {exc}")


def call_api(
    method: str,
    url: str,
    path: str,
    token: str | None,
    home: Path,
    *,
    json: Any = None,
    params: dict[str, str] | None = None,
    timeout: float = 30,
) -> httpx.Response:
    """One request with the discovered token; an error answer ends the command (exit 2
    for a 422, the caller's input being wrong; else 1). `params` go into the query
    string URL-encoded (a registry URL holds `&`, `?` and `=`)."""
    token = resolve_token(token, home)
    resp = request(method, url, path, token, json=json, params=params, timeout=timeout)
    if resp.status_code >= 400:
        fail(error_message(resp), code=2 if resp.status_code == 422 else 1)
    return resp


def error_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        text = f"{body.get('error', resp.status_code)}: {body.get('message', '')}"
        for reason in body.get("reasons") or []:
            text += f"\n  - {reason.get('code')}: {reason.get('message')}"
        if body.get("field"):
            text += f" (field {body['field']})"
        return text
    except ValueError:
        return f"HTTP {resp.status_code}"
