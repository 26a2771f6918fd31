"""The `nexflow` command line: `app` (the Typer root, with `up`) and `main`.

One module per command group:

    _skill      skill lint|list|show|test|call     _audit      audit verify|tail
    _approvals  approval list|show|approve|deny    _image      image lint|build|list
    _policy     policy test|check|eval             _accounts   user ..., token ...
    _db         db upgrade|current                 _up         what `nexflow up` runs
    _certs      certs init|issue (the mTLS CA)     _secret     secret set|rotate|list|rm
    _schedule   schedule add|list|rm|pause|resume
    _pairing    pairing list|confirm|reject (chat senders)
    _gateway_alone  gateway (the chat gateway alone, against a remote control plane)
    _marketplace skill install|update|remove|consent|installed, registry trust|revoke|keys
    _client     what the HTTP commands share (home, token, request, fail)
    _skill_test, _skill_verdicts  what `skill test` runs and how it judges and reports
    _local_executor  a private `nexflow-executor` process (`up` and `skill test`)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from ._client import DEFAULT_HOME

# Each command group is imported only when it runs: `nexflow approval list` does not pay
# for SQLAlchemy, cryptography and the policy engines, and `nexflow --help` imports none.
# name: (module, attribute, the help `nexflow --help` lists; a test keeps it the module's)
LAZY: dict[str, tuple[str, str, str]] = {
    "skill": ("_marketplace", "skill_app", "Inspect, lint and run skills."),
    "audit": ("_audit", "app", "Read and verify the audit log."),
    "approval": ("_approvals", "app", "List, approve and deny calls that wait for a human."),
    "image": ("_image", "app", "Build, lint and list skill images."),
    "policy": ("_policy", "app", "Test, check and try the Rego policies."),
    "user": ("_accounts", "user_app", "Manage users: roles, disabling, identity links."),
    "token": ("_accounts", "token_app", "Create, list and revoke API tokens."),
    "db": ("_db", "app", "Create or upgrade the database schema."),
    "certs": (
        "_certs",
        "app",
        "Make a CA and the certificates executors and the control plane present (mTLS).",
    ),
    "secret": ("_secret", "app", "Manage secrets (values in, never out)."),
    "schedule": ("_schedule", "app", "Schedule skill calls (cron or one-shot, with a time zone)."),
    "pairing": (
        "_pairing",
        "app",
        "Confirm or reject the pairing codes unknown chat senders were given.",
    ),
    "registry": ("_marketplace", "registry_app", "Publisher keys this home trusts."),
    "gateway": (
        "_gateway_alone",
        "run",
        "Run the chat gateway alone (web chat API, Telegram, Discord) against a control plane.",
    ),
}


def _root() -> None:
    # A Typer whose only command is `up` (or `gateway`) would be that command, not a group.
    return None


def load_group(name: str) -> Any:
    # Any: a command of the click Typer vendors (typer._click), not of the `click` package.
    """The real command behind `name`, its module imported now."""
    module, attribute, _ = LAZY[name]
    target = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    holder = typer.Typer(add_completion=False)  # as `app.add_typer` would have made it
    holder.callback()(_root)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)  # the callback above makes it one
    return group.commands[name]


class _LazyGroup(TyperGroup):
    """`up` is defined here; every other command is loaded on first use (`resolve_command`
    when it runs), and listed in the help from `LAZY` without being imported."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY:
            return TyperCommand(cmd_name, help=LAZY[cmd_name][2])  # listed, never run
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] in LAZY and args[0] not in self.commands:
            self.commands[args[0]] = load_group(args[0])
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_LazyGroup,
    help="Nexflow: run AI-agent skills in sandboxes, checked by policy and audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


app.callback()(_root)


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


__all__ = ["LAZY", "app", "load_group", "main"]
