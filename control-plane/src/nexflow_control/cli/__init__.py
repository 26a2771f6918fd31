"""The `nexflow` command line: `app` (the Typer root, with `up`) and `main`.

One module per command group:

    _skill      skill lint|list|show|call          _audit      audit verify|tail
    _approvals  approval list|show|approve|deny    _image      image lint|build|list
    _policy     policy test|check|eval             _accounts   user ..., token ...
    _db         db upgrade|current                 _up         what `nexflow up` runs
    _certs      certs init|issue (the mTLS CA)     _secret     secret set|rotate|list|rm
    _schedule   schedule add|list|rm|pause|resume
    _pairing    pairing list|confirm|reject (chat senders)
    _gateway_alone  gateway (the chat gateway alone, against a remote control plane)
    _marketplace skill install|update|remove|consent|installed, registry trust|revoke|keys
    _client     what the HTTP commands share (home, token, request, fail)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import (
    _accounts,
    _approvals,
    _audit,
    _certs,
    _db,
    _gateway_alone,
    _image,
    _marketplace,
    _pairing,
    _policy,
    _schedule,
    _secret,
    _skill,
)
from ._client import DEFAULT_HOME

app = typer.Typer(
    help="Nexflow: run AI-agent skills in sandboxes, checked by policy and audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_skill.app, name="skill")
app.add_typer(_audit.app, name="audit")
app.add_typer(_approvals.app, name="approval")
app.add_typer(_image.app, name="image")
app.add_typer(_policy.app, name="policy")
app.add_typer(_accounts.user_app, name="user")
app.add_typer(_accounts.token_app, name="token")
app.add_typer(_db.app, name="db")
app.add_typer(_certs.app, name="certs")
app.add_typer(_secret.app, name="secret")
app.add_typer(_schedule.app, name="schedule")
app.add_typer(_pairing.app, name="pairing")
app.add_typer(_marketplace.registry_app, name="registry")
app.command("gateway")(_gateway_alone.run)


@app.command()
def up(
    home: Annotated[
        Path, typer.Option("--home", envvar="NEXFLOW_HOME", help="Home directory")
    ] = DEFAULT_HOME,
    port: Annotated[int, typer.Option("--port", help="HTTP port on loopback")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    skills: Annotated[
        list[Path] | None, typer.Option("--skills", help="Extra skill folder (repeatable)")
    ] = None,
    sandbox: Annotated[
        str,
        typer.Option(
            "--sandbox",
            envvar="NEXFLOW_SANDBOX__BACKEND",
            help="Default sandbox backend: auto (Docker when available), docker or nsjail",
        ),
    ] = "auto",
    opa: Annotated[
        bool,
        typer.Option(
            "--opa",
            help="Decide with a local OPA server (opa run --server) instead of the embedded engine",
        ),
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Add HOST[:PORT] (or HOST:*, *.DOMAIN) to the policy's network allowlist "
            "for this run (repeatable)",
        ),
    ] = None,
    trust_skill: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-skill",
            help="Vouch for skill NAME for this run: its calls need no unknown-publisher or "
            "new-version approval (repeatable)",
        ),
    ] = None,
    web_chat: Annotated[
        bool,
        typer.Option(
            "--web-chat/--no-web-chat",
            envvar="NEXFLOW_WEB_CHAT",
            help="Start the chat gateway and serve the web chat (a Telegram or Discord bot "
            "token starts the gateway either way)",
        ),
    ] = True,
) -> None:
    """Start the executor and the control plane in the foreground (Ctrl-C stops both)."""
    from pydantic import ValidationError

    from ..settings import PolicySettings, SandboxSettings, Settings
    from ._up import run_up

    if sandbox not in ("auto", "docker", "nsjail"):
        typer.echo(f"--sandbox: {sandbox!r} is not one of auto, docker, nsjail", err=True)
        raise typer.Exit(2)
    settings = Settings(
        home=home.resolve(),
        port=port,
        host=host,
        skills_dirs=[p.resolve() for p in skills or []],
        sandbox=SandboxSettings(backend=sandbox),
        web_chat=web_chat,
    )
    if allow_host or trust_skill:
        current = settings.policy.model_dump()
        current["allow_hosts"] = [*current["allow_hosts"], *(allow_host or [])]
        current["trusted_skills"] = [*current["trusted_skills"], *(trust_skill or [])]
        try:
            settings.policy = PolicySettings.model_validate(current)
        except ValidationError as exc:
            error = exc.errors()[0]
            option = "--trust-skill" if error["loc"][0] == "trusted_skills" else "--allow-host"
            typer.echo(f"{option}: {error['msg']}", err=True)
            raise typer.Exit(2) from None
    raise typer.Exit(run_up(settings, opa=opa))


def main() -> None:
    app()


__all__ = ["app", "main"]
