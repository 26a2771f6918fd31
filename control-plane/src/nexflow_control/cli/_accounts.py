"""`nexflow user add|list|show|roles|disable|enable|passwd|link|unlink` and `nexflow token ...`.

Like `skill` and `audit tail`, these talk to the running control plane over HTTP with
a token holding `accounts:admin` (by default the bootstrap admin's, from
HOME/admin.token): the one process that owns the database makes every change and
audits it with the caller as the actor. Arguments are checked here first, with the
server's own rules: a bad one exits 2 with one line, before any request is sent.
Exit 1: the server refused (unknown user, conflict, no permission, unreachable).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import typer

from ..accounts import DEFAULT_SCOPES, TOKEN_PREFIX, passwords
from ..accounts import validate as check
from ..errors import InvalidInput
from ._client import (
    DEFAULT_HOME,
    DEFAULT_URL,
    HomeOpt,
    TokenOpt,
    UrlOpt,
    call_api,
    fail,
)

user_app = typer.Typer(help="Manage users: roles, disabling, identity links.", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

RoleOpt = Annotated[
    list[str] | None, typer.Option("--role", "-r", help="Role (repeatable), e.g. user, operator")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _bad(exc: InvalidInput) -> NoReturn:
    fail(exc.message, code=2)


def _identity(value: str) -> tuple[str, str]:
    provider, sep, subject = value.partition(":")
    if not sep:
        fail(f"identity must be PROVIDER:SUBJECT, e.g. telegram:123 (got {value!r})", code=2)
    try:
        return check.identity(provider, subject)
    except InvalidInput as exc:
        _bad(exc)


def _print_user(user: dict[str, Any]) -> None:
    status = "disabled" if user["disabled"] else "active"
    links = ",".join(i["identity"] for i in user["identities"]) or "-"
    roles = ",".join(user["roles"]) or "-"
    typer.echo(f"{user['name']:<24} {roles:<24} {status:<9} {links}")


@user_app.command("add")
def user_add(
    name: str,
    role: RoleOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Create a user with the given roles."""
    try:
        roles = check.roles(role or [])
        check.user_name(name)
    except InvalidInput as exc:
        _bad(exc)
    body = {"name": name, "roles": roles}
    user = call_api("POST", url, "/api/v1/users", token, home, json=body).json()
    typer.echo(f"created user {user['name']} (roles: {', '.join(user['roles']) or 'none'})")


@user_app.command("list")
def user_list(
    as_json: JsonOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """List users: name, roles, status, linked identities."""
    users = call_api("GET", url, "/api/v1/users", token, home).json()["users"]
    if as_json:
        typer.echo(json.dumps(users, indent=2, ensure_ascii=False))
        return
    for user in users:
        _print_user(user)


@user_app.command("show")
def user_show(
    name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME
) -> None:
    """Show one user as JSON."""
    user = call_api("GET", url, f"/api/v1/users/{quote(name, safe='')}", token, home).json()
    typer.echo(json.dumps(user, indent=2, ensure_ascii=False))


@user_app.command("passwd")
def user_passwd(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Set the user's web-login password (asked twice, or one line on stdin); their open
    web sessions end."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        passwords.check_strength(password)
    except InvalidInput as exc:
        _bad(exc)
    path = f"/api/v1/users/{quote(name, safe='')}/password"
    call_api("PUT", url, path, token, home, json={"password": password})
    typer.echo(f"password set for {name}; their web sessions were ended")


def _update(name: str, change: dict[str, Any], url: str, token: str | None, home: Path) -> None:
    path = f"/api/v1/users/{quote(name, safe='')}"
    _print_user(call_api("PATCH", url, path, token, home, json=change).json())


@user_app.command("roles")
def user_roles(
    name: str,
    role: RoleOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Replace a user's roles with the --role options given."""
    if not role:
        fail("give the new roles with --role (repeatable)", code=2)
    try:
        roles = check.roles(role)
    except InvalidInput as exc:
        _bad(exc)
    _update(name, {"roles": roles}, url, token, home)


@user_app.command("disable")
def user_disable(
    name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME
) -> None:
    """Disable a user: every token of theirs answers 401 user_disabled until enabled."""
    _update(name, {"disabled": True}, url, token, home)


@user_app.command("enable")
def user_enable(
    name: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME
) -> None:
    """Enable a disabled user again."""
    _update(name, {"disabled": False}, url, token, home)


@user_app.command("link")
def user_link(
    name: str,
    identity: Annotated[str, typer.Argument(help="PROVIDER:SUBJECT, e.g. telegram:123")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Link an outside identity (a chat account) to a user."""
    provider, subject = _identity(identity)
    path = f"/api/v1/users/{quote(name, safe='')}/identities"
    call_api("POST", url, path, token, home, json={"provider": provider, "subject": subject})
    typer.echo(f"linked {provider}:{subject} to {name}")


@user_app.command("unlink")
def user_unlink(
    name: str,
    identity: Annotated[str, typer.Argument(help="PROVIDER:SUBJECT")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Remove an identity link from a user."""
    provider, subject = _identity(identity)
    path = f"/api/v1/users/{quote(name, safe='')}/identities/{provider}/{quote(subject, safe='')}"
    call_api("DELETE", url, path, token, home)
    typer.echo(f"unlinked {provider}:{subject} from {name}")


@token_app.command("create")
def token_create(
    user: str,
    name: Annotated[str, typer.Option("--name", help="What the token is for")] = "default",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help=f"Scope (repeatable); default: {' '.join(DEFAULT_SCOPES)}",
        ),
    ] = None,
    expires: Annotated[
        str, typer.Option("--expires", help="Lifetime: 30d, 12h, 90m, 2w, or never")
    ] = "never",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Create a token; prints it (once, on stdout) — it cannot be shown again."""
    try:
        check.token_name(name)
        scopes = check.scopes(scope) if scope else None
        check.expiry(expires, field="--expires")
    except InvalidInput as exc:
        _bad(exc)
    body = {"name": name, "scopes": scopes, "expires_in": expires}
    path = f"/api/v1/users/{quote(user, safe='')}/tokens"
    created = call_api("POST", url, path, token, home, json=body).json()
    typer.echo(
        f"token {created['id']} for {created['user']} ({' '.join(created['scopes'])}; "
        f"expires {created['expires_at'] or 'never'}); shown this once, store it now:",
        err=True,
    )
    typer.echo(created["token"])


@token_app.command("list")
def token_list(
    user: Annotated[str | None, typer.Argument(help="Only this user's tokens")] = None,
    as_json: JsonOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """List tokens (never their secrets): id, user, name, scopes, status, dates."""
    path = "/api/v1/tokens" if user is None else f"/api/v1/users/{quote(user, safe='')}/tokens"
    tokens = call_api("GET", url, path, token, home).json()["tokens"]
    if as_json:
        typer.echo(json.dumps(tokens, indent=2, ensure_ascii=False))
        return
    for t in tokens:
        typer.echo(
            f"{t['id']:<17} {t['user']:<16} {t['name'][:20]:<20} {t['status']:<8} "
            f"expires {(t['expires_at'] or 'never')[:19]:<19} "
            f"used {(t['last_used_at'] or 'never')[:19]:<19} {' '.join(t['scopes'])}"
        )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[
        str, typer.Argument(help="The token's id or prefix nxf_<id>_ (see 'nexflow token list')")
    ],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Revoke a token: it answers 401 token_revoked from now on."""
    token_id = token_id.removeprefix(TOKEN_PREFIX).partition("_")[0]
    path = f"/api/v1/tokens/{quote(token_id, safe='')}/revoke"
    revoked = call_api("POST", url, path, token, home).json()
    typer.echo(f"revoked token {revoked['id']} of {revoked['user']}")
