"""`nexflow skill install|update|remove|consent|installed` and `nexflow registry
trust|revoke|keys`: clients of `/api/v1/marketplace` on a running control plane (which
verifies, installs, audits and reloads its catalog live)."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Annotated, Any

import typer

from ..skills import load_skill
from . import _skill
from ._client import DEFAULT_HOME, HomeOpt, TokenOpt, UrlOpt, call_api, fail

registry_app = typer.Typer(help="Publisher keys this home trusts.", no_args_is_help=True)
skill_app = _skill.app  # `nexflow skill`: the commands of _skill and the ones below
RegistryOpt = Annotated[
    str | None, typer.Option("--registry", help="Registry base URL (default: the setting)")
]
MinAgeOpt = Annotated[
    float | None,
    typer.Option("--min-age-hours", help="Skip versions younger than N hours (unless pinned)"),
]
URL = "http://127.0.0.1:8080"


def _say_installed(done: dict[str, Any]) -> None:
    skill = done["skill"]
    for pinned in done["first_use"]:
        typer.secho(f"pinned on first use: {pinned}", fg=typer.colors.YELLOW, err=True)
    verb = "installed" if done["changed"] else "already installed"
    proof = (
        f"publisher {skill['publisher']}, key {skill['key_id'][:16]}, "
        f"log size {skill['checkpoint_size']}"
        if skill["verified"]
        else f"unsigned: publisher {skill['publisher'] or '(none)'} not verified"
    )
    typer.echo(
        f"{verb} {skill['name']} {skill['version']} (sha256:{skill['digest'][:16]}…, {proof}, "
        f"scan {skill['scan_verdict']})"
    )
    for finding in skill["scan_findings"]:
        typer.secho(f"  scan: {finding}", fg=typer.colors.YELLOW, err=True)
    if done["consent_required"]:
        _say_diff(skill["name"], done["consent_required"])


def _say_diff(name: str, lines: list[str]) -> None:
    typer.secho(
        f"{name} asks for more than was approved; it does not run until "
        f"'nexflow skill consent {name}':",
        fg=typer.colors.YELLOW,
    )
    for line in lines:
        typer.echo(f"  {line}")


@_skill.app.command("install")
def install(
    spec: Annotated[
        str | None,
        typer.Argument(help="NAME, NAME@VERSION, NAME@sha256:DIGEST, or a local skill folder"),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", help="A ClawHub-format archive (.zip or .tar.gz)"),
    ] = None,
    registry: RegistryOpt = None,
    min_age_hours: MinAgeOpt = None,
    url: UrlOpt = URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Install a skill from a registry once its digest, signature and log proofs verify, or
    (unsigned, never publisher-verified) from a local folder or archive; scanned either way."""
    if from_file is not None or (spec is not None and _is_path(spec)):
        source = from_file or Path(spec or ".")
        body: dict[str, Any] = {"archive": _archive(source), "source": str(source)[:500]}
        path = "/api/v1/marketplace/install-archive"
    elif spec is not None:
        body = {"spec": spec, "registry": registry, "min_age_hours": min_age_hours}
        path = "/api/v1/marketplace/install"
    else:
        fail("name a skill, a folder or --from-file ARCHIVE", code=2)
    done = call_api("POST", url, path, token, home, json=body, timeout=120)
    _say_installed(done.json())


def _is_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or Path(spec).is_dir()


def _archive(source: Path) -> str:
    """`source` (an archive file, or a folder zipped here) as base64."""
    source = source.expanduser()
    if source.is_file():
        return base64.b64encode(source.read_bytes()).decode()
    if not source.is_dir():
        fail(f"{source}: no such folder or archive", code=2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for item in sorted(source.rglob("*")):
            rel = item.relative_to(source).as_posix()
            if item.is_symlink():
                fail(f"{source}: {rel} is a symbolic link; a skill ships regular files", code=2)
            if item.is_file():
                out.write(item, rel)
        for name, path in _shared_files(source):
            out.write(path, name)  # packed in, as in its bundle: the copy needs no _shared/
    return base64.b64encode(buf.getvalue()).decode()


def _shared_files(folder: Path) -> tuple[tuple[str, Path], ...]:
    """The files SKILL.md's `shared:` takes from `_shared/` beside `folder` (none when it
    does not load: the control plane then says why)."""
    if not (folder / "SKILL.md").is_file():
        return ()
    skill = load_skill(folder).skill
    return skill.shared if skill is not None else ()


@_skill.app.command("update")
def update(
    name: Annotated[str | None, typer.Argument(help="One skill (default: every one)")] = None,
    min_age_hours: MinAgeOpt = None,
    url: UrlOpt = URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Install the latest verified release of installed registry skills; exit 1 if one failed."""
    body = {"name": name, "min_age_hours": min_age_hours}
    out = call_api("POST", url, "/api/v1/marketplace/update", token, home, json=body).json()
    failed = False
    for result in out["results"]:
        if result["installed"] is not None:
            _say_installed(result["installed"])
        else:
            failed = True
            typer.secho(
                f"{result['name']}: {result['error']}: {result['message']}",
                fg=typer.colors.RED,
                err=True,
            )
    raise typer.Exit(1 if failed else 0)


@_skill.app.command("remove")
def remove(
    name: str, url: UrlOpt = URL, token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME
) -> None:
    """Uninstall a skill installed from a registry."""
    gone = call_api("DELETE", url, f"/api/v1/marketplace/skills/{name}", token, home).json()
    typer.echo(f"removed {gone['name']} {gone['version']}")


@_skill.app.command("consent")
def consent(
    name: str,
    show: Annotated[bool, typer.Option("--show", help="Only show the difference")] = False,
    url: UrlOpt = URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Show, then approve, what an installed update asks for beyond the last approval."""
    path = f"/api/v1/marketplace/skills/{name}/consent"
    diff = call_api("GET", url, path, token, home).json()
    if not diff["pending"]:
        typer.echo(f"{name} {diff['version']}: nothing awaits consent")
        return
    _say_diff(name, diff["diff"])
    if not show:
        call_api("POST", url, path, token, home)
        typer.echo(f"approved: {name} {diff['version']} may run")


@_skill.app.command("installed")
def installed(url: UrlOpt = URL, token: TokenOpt = None, home: HomeOpt = DEFAULT_HOME) -> None:
    """The lockfile: skills installed from a registry, as JSON."""
    out = call_api("GET", url, "/api/v1/marketplace/skills", token, home).json()
    typer.echo(json.dumps(out["skills"], indent=2))


@registry_app.command("trust")
def trust(
    publisher: str,
    key: Annotated[str, typer.Argument(help="base64 ed25519 public key")],
    registry: RegistryOpt = None,
    url: UrlOpt = URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Trust a publisher's key explicitly (before first use, or a rotated key)."""
    body = {"publisher": publisher, "public_key": key, "registry": registry}
    pin = call_api("POST", url, "/api/v1/marketplace/keys/trust", token, home, json=body).json()
    typer.echo(f"trusted {publisher} key {pin['key_id']}")


@registry_app.command("revoke")
def revoke(
    publisher: str,
    key: Annotated[str, typer.Argument(help="key id (8+ characters) or base64 public key")],
    registry: RegistryOpt = None,
    url: UrlOpt = URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """Revoke a publisher key: nothing it signed installs, nor counts as verified."""
    body = {"publisher": publisher, "key": key, "registry": registry}
    out = call_api("POST", url, "/api/v1/marketplace/keys/revoke", token, home, json=body).json()
    typer.echo(f"revoked {publisher} key {out['key_id']}")


@registry_app.command("keys")
def keys(
    registry: RegistryOpt = None,
    url: UrlOpt = URL,
    token: TokenOpt = None,
    home: HomeOpt = DEFAULT_HOME,
) -> None:
    """The publisher keys pinned in this home."""
    params = {"registry": registry} if registry else None
    out = call_api("GET", url, "/api/v1/marketplace/keys", token, home, params=params).json()
    for k in out["keys"]:
        typer.echo(f"{k['publisher']:<20} {k['key_id'][:16]}  {k['status']:<8} {k['how']}")
