"""What a skill declares, read by the control plane's SKILL.md loader, and its lint
diagnostics as findings (the loader pulls no server code: only the skills package)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nexflow_control.skills import LoadResult, Permission, load_skill, required_env

from ._model import Finding, Requests


@dataclass(frozen=True)
class Declared:
    network: bool = False
    hosts: tuple[str, ...] = ()
    env: frozenset[str] = field(default_factory=frozenset)


_NAME = re.compile(r"^name:\s*[\"']?([a-z0-9][a-z0-9-]{0,63})[\"']?\s*$", re.MULTILINE)


def _load(folder: Path) -> tuple[LoadResult, Path]:
    """Load the skill as if its folder had the skill's name (a package's folder name means
    nothing: the linter's name-versus-folder rule is about installed skills)."""
    md = folder / "SKILL.md"
    found = _NAME.search(md.read_text(errors="replace")[:4096]) if md.is_file() else None
    if found is None or found.group(1) == folder.name:
        return load_skill(folder), folder
    with tempfile.TemporaryDirectory(prefix="scan-") as tmp:
        alias = Path(tmp) / found.group(1)
        alias.symlink_to(folder.resolve(), target_is_directory=True)
        return load_skill(alias), alias


def lint(folder: Path) -> tuple[Declared, list[Finding]]:
    """The declarations and the linter's diagnostics (error -> block, warning -> warn)."""
    result, loaded = _load(folder)
    findings = [
        Finding(
            file=_rel(loaded, d.file),
            line=d.line,
            rule=f"lint:{d.code.value}",
            severity="block" if d.is_error else "warn",
            message=f"{d.field}: {d.message}" if d.field else d.message,
        )
        for d in result.diagnostics
    ]
    skill = result.skill
    if skill is None:
        return Declared(), findings
    return (
        Declared(
            network=Permission.NETWORK in skill.permissions or bool(skill.network),
            hosts=tuple(n.host.lower() for n in skill.network),
            env=required_env(skill),
        ),
        findings,
    )


def _rel(loaded: Path, path: Path) -> str:
    try:
        return path.relative_to(loaded).as_posix()
    except ValueError:
        return path.name


def host_declared(host: str, hosts: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for want in hosts:
        if want.startswith("*.") and host.endswith(want[1:]):
            return True
        if host == want:
            return True
    return False


def requests(folder: Path) -> Requests:
    """What the skill asks for, read by the same loader the control plane consents with
    (empty when SKILL.md does not load: the scan's findings say why)."""
    skill = _load(folder)[0].skill
    if skill is None:
        return Requests()
    return Requests.of(skill)
