"""`nexflow approval list|show|approve|deny`, over the HTTP API."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer

from ._client import (
    DEFAULT_HOME,
    DEFAULT_URL,
    HomeOpt,
    TokenOpt,
    UrlOpt,
    call_api,
    fail,
)

app = typer.Typer(help="List, approve and deny calls that wait for a human.", no_args_is_help=True)

_ID = re.compile(r"^a_[0-9a-f]{16}$")
_STATUSES = ("pending", "granted", "ran", "denied", "expired", "invalidated", "interrupted", "all")
IdArg = Annotated[str, typer.Argument(help="Approval id (a_...)")]
CommentOpt = Annotated[str | None, typer.Option("--comment", "-m", help="Why (audited)")]


def _check_id(approval_id: str) -> str:
    if not _ID.match(approval_id):
        fail(f"{approval_id!r} is not an approval id (a_ and 16 hex digits)", code=2)
    return approval_id


def _line(a: dict[str, Any]) -> str:
    codes = ",".join(r["code"] for r in a["reasons"])
    return (
        f"{a['id']}  {a['status']:<11} {a['call_id']:<26} {a['principal']:<12} "
        f"{a['skill']:<14} expires {a['expires_at']}  {codes}"
    )


@app.command("list")
def list_cmd(
    status: Annotated[str, typer.Option("--status", help=f"one of {', '.join(_STATUSES)}")] = (
        "pending"
    ),
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Approvals, newest first (pending ones by default)."""
    if status not in _STATUSES:
        fail(f"--status must be one of {', '.join(_STATUSES)} (got {status!r})", code=2)
    query = "" if status == "all" else f"?status={status}"
    found = call_api("GET", url, f"/api/v1/approvals{query}", token, home).json()["approvals"]
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for approval in found:
        typer.echo(_line(approval))
    if not found:
        typer.echo(f"no {'' if status == 'all' else status + ' '}approvals", err=True)


@app.command("show")
def show(
    approval_id: IdArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """One approval: who asked, which skill and input, what it would be granted, and why."""
    path = f"/api/v1/approvals/{_check_id(approval_id)}"
    approval = call_api("GET", url, path, token, home).json()
    typer.echo(json.dumps(approval, indent=2, ensure_ascii=False))


def _decide(
    verb: str, approval_id: str, comment: str | None, url: str, token: str | None, home: Any
) -> None:
    body = {"comment": comment} if comment is not None else {}
    path = f"/api/v1/approvals/{_check_id(approval_id)}/{verb}"
    decided = call_api("POST", url, path, token, home, json=body).json()
    typer.echo(f"{decided['id']} {decided['status']} (call {decided['call_id']})")


@app.command("approve")
def approve(
    approval_id: IdArg,
    comment: CommentOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Approve: the call runs in the background (`GET /api/v1/calls/ID` to follow it)."""
    _decide("approve", approval_id, comment, url, token, home)


@app.command("deny")
def deny(
    approval_id: IdArg,
    comment: CommentOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Deny: the call never runs."""
    _decide("deny", approval_id, comment, url, token, home)
