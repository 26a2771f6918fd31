"""`nexflow certs init|issue`: the small CA behind mutual TLS with remote executors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..certs import CONTROL_PLANE_ID, CertError, Issued, init_ca
from ..certs import issue_control_plane as _issue_control_plane
from ..certs import issue_executor as _issue_executor
from ._client import DEFAULT_HOME, fail

app = typer.Typer(
    help="Make a CA and the certificates executors and the control plane present (mTLS).",
    no_args_is_help=True,
)
issue_app = typer.Typer(help="Issue a certificate signed by the CA.", no_args_is_help=True)
app.add_typer(issue_app, name="issue")

Home = Annotated[Path, typer.Option("--home", envvar="NEXFLOW_HOME", help="Home directory")]
Dir = Annotated[Path | None, typer.Option("--dir", help="The CA's folder (default: HOME/certs)")]


def _folder(home: Path, folder: Path | None) -> Path:
    return (folder or home / "certs").expanduser().resolve()


def _done(issued: Issued, what: str) -> None:
    typer.echo(f"{what}\n  certificate: {issued.cert}\n  private key: {issued.key}")


@app.command("init")
def init_cmd(
    home: Home = DEFAULT_HOME,
    folder: Dir = None,
    days: Annotated[int, typer.Option("--days", help="Validity in days")] = 3650,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing CA (its certificates die)")
    ] = False,
) -> None:
    """Make the CA (ECDSA P-256): ca.key (0600) and ca.pem in a 0700 folder."""
    try:
        issued = init_ca(_folder(home, folder), days=days, force=force)
    except CertError as exc:
        fail(str(exc))
    _done(issued, f"CA made, valid {days} days")


@issue_app.command("executor")
def executor_cmd(
    name: Annotated[str, typer.Argument(help="The executor's name (lowercase, digits, '-')")],
    dns: Annotated[
        list[str] | None,
        typer.Option("--dns", help="A DNS name it is reached by (repeatable; default NAME)"),
    ] = None,
    ip: Annotated[
        list[str] | None, typer.Option("--ip", help="An IP address it is reached by (repeatable)")
    ] = None,
    home: Home = DEFAULT_HOME,
    folder: Dir = None,
    days: Annotated[int, typer.Option("--days", help="Validity in days")] = 365,
) -> None:
    """An executor's server certificate (serverAuth), for the names it is reached by."""
    try:
        issued = _issue_executor(
            _folder(home, folder), name, dns=dns or [], ips=ip or [], days=days
        )
    except CertError as exc:
        fail(str(exc))
    _done(issued, f"executor {name}: server certificate, valid {days} days")


@issue_app.command("control-plane")
def control_plane_cmd(
    home: Home = DEFAULT_HOME,
    folder: Dir = None,
    days: Annotated[int, typer.Option("--days", help="Validity in days")] = 365,
) -> None:
    """The control plane's client certificate (clientAuth, SAN DNS nexflow-control-plane)."""
    try:
        issued = _issue_control_plane(_folder(home, folder), days=days)
    except CertError as exc:
        fail(str(exc))
    _done(issued, f"control plane ({CONTROL_PLANE_ID}): client certificate, valid {days} days")
