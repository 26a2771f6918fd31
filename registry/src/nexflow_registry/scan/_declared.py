"""What a skill declares, read by the control plane's SKILL.md loader, and its lint
diagnostics as findings (the loader pulls no server code: only the skills package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nexflow_control.skills import Code, Permission, load_skill

from ._model import Finding


@dataclass(frozen=True)
class Declared:
    network: bool = False
    hosts: tuple[str, ...] = ()
    env: frozenset[str] = field(default_factory=frozenset)


# A package's folder name means nothing in a registry (the archive's top folder is dropped).
_IGNORED = {Code.NAME_MISMATCH}


def lint(folder: Path) -> tuple[Declared, list[Finding]]:
    """The declarations and the linter's diagnostics (error -> block, warning -> warn)."""
    result = load_skill(folder)
    findings = [
        Finding(
            file=_rel(folder, d.file),
            line=d.line,
            rule=f"lint:{d.code.value}",
            severity="block" if d.is_error else "warn",
            message=f"{d.field}: {d.message}" if d.field else d.message,
        )
        for d in result.diagnostics
        if d.code not in _IGNORED
    ]
    skill = result.skill
    if skill is None:
        return Declared(), findings
    return (
        Declared(
            network=Permission.NETWORK in skill.permissions or bool(skill.network),
            hosts=tuple(n.host.lower() for n in skill.network),
            env=frozenset(skill.requirements.env)
            | (
                frozenset(skill.env_required)
                if isinstance(skill.env_required, tuple)
                else frozenset()
            ),
        ),
        findings,
    )


def _rel(folder: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
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
