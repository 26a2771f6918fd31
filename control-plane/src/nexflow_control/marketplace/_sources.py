"""Where installed skills live, and how the catalog learns they were verified.

An installed release is unpacked into `HOME/installed/<name>-<version>-<digest12>/<name>/`:
a folder per release, so an update never rewrites the files a running call is using.
`installed_sources` gives the catalog the folders the lockfile names; `annotate` marks a
skill loaded from one of them verified (its registry publisher) only while its files still
have the digest the lockfile recorded, and holds it while an update awaits consent.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from ..skills import SkillCatalog
from . import _lock
from ._lock import Lockfile

INSTALLED = "installed"
SOURCE = "registry"
LOCAL = "local"
"""the lockfile's `registry` of a skill installed from a local folder or archive"""


def release_dir(home: Path, name: str, version: str, digest: str) -> Path:
    return home / INSTALLED / f"{name}-{version}-{digest[:12]}" / name


def installed_sources(home: Path, lock: Lockfile | None = None) -> list[tuple[Path, str]]:
    lock = lock if lock is not None else _lock.read(home)
    return [(home / entry.path, SOURCE) for _, entry in sorted(lock.skills.items())]


def annotate(
    catalog: SkillCatalog, home: Path, lock: Lockfile, revoked: set[tuple[str, str]]
) -> SkillCatalog:
    """The catalog with `verified_publisher`, `consent_pending` and `scan_verdict` set from
    the lockfile;
    a release signed by a key now revoked (`(registry, key id)` in `revoked`) is not
    verified any more."""
    skills = dict(catalog.skills)
    for name, entry in lock.skills.items():
        skill = skills.get(name)
        if skill is None or skill.source != SOURCE or skill.dir != home / entry.path:
            continue
        intact = skill.digest == entry.files_digest
        trusted = (entry.registry.rstrip("/"), entry.key_id) not in revoked
        verified = entry.publisher if intact and trusted and entry.verified else None
        skills[name] = replace(
            skill,
            verified_publisher=verified,
            consent_pending=entry.consent_pending,
            scan_verdict=entry.scan_verdict,
            version=skill.version or entry.version,  # a local OpenClaw skill may name none
        )
    return SkillCatalog(skills, catalog.diagnostics)


def prune(home: Path) -> None:
    """Remove release folders the lockfile no longer names (at start-up: no call runs)."""
    lock = _lock.read(home)
    root = home / INSTALLED
    keep = {(home / e.path).parent for e in lock.skills.values()}
    for child in root.iterdir() if root.is_dir() else ():
        if child.is_dir() and child not in keep:
            shutil.rmtree(child, ignore_errors=True)
