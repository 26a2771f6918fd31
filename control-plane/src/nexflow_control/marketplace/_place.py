"""Turn an unpacked skill into a release folder and its lockfile entry (disk work: run it
in a thread). The unpacked files are scanned (`nexflow_registry.scan`) before they are
kept: a `block` verdict refuses them (`scan_blocked`), a `warn` is recorded in the entry.
The folder is removed again if the scan blocks, the files do not load as a skill or (from
a registry) the signed SKILL.md names another version than the registry does."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nexflow_registry.client import VerificationFailed, Verified, unpack_verified
from nexflow_registry.scan import scan_folder
from nexflow_registry.signing import ManifestEntry

from ..skills import Skill, load_skill
from ._errors import MarketplaceError
from ._lock import LockedSkill
from ._request import SkillRequest, added, request_of
from ._sources import SOURCE, release_dir

MAX_FINDINGS = 50


@dataclass(frozen=True)
class Adopted:
    """An unpacked folder that scanned without a block and loads as a skill."""

    skill: Skill
    verdict: str
    findings: list[str]


def adopt(dest: Path, what: str, manifest: Sequence[ManifestEntry] | None) -> Adopted:
    """Scan and load the skill at `dest`: `scan_blocked` (a `VerificationFailed`, audited
    like every refusal) or `skill_invalid`; the caller removes `dest` on failure."""
    report = scan_folder(dest, manifest)
    if report.verdict == "block":
        blocking = [f"{f.file}:{f.line} {f.rule}" for f in report.blocking()]
        raise VerificationFailed(
            f"the install-time scan blocks {what}: {', '.join(blocking[:5])}",
            code="scan_blocked",
        )
    loaded = load_skill(dest, SOURCE)
    if loaded.skill is None:
        first = next((d for d in loaded.diagnostics if d.is_error), None)
        raise MarketplaceError(
            422,
            f"{what} does not load: {first.message if first else 'invalid SKILL.md'}",
            code="skill_invalid",
        )
    lines = [f"{f.file}:{f.line} {f.rule}: {f.message}" for f in report.findings]
    return Adopted(loaded.skill, report.verdict, lines[:MAX_FINDINGS])


def fresh(dest: Path) -> Path:
    """`dest`'s release folder, emptied of a leftover of an interrupted install."""
    if dest.parent.exists():
        shutil.rmtree(dest.parent)
    dest.parent.mkdir(parents=True)
    return dest


def locked(
    home: Path, dest: Path, adopted: Adopted, old: LockedSkill | None, **fields: str | int | bool
) -> LockedSkill:
    """The lockfile entry of `adopted` at `dest`. An update whose request exceeds `old`'s
    approval carries the excess as `consent_diff`."""
    request = request_of(adopted.skill)
    diff = SkillRequest() if old is None else added(old.granted, request)
    return LockedSkill.model_validate(
        {
            **fields,
            "name": adopted.skill.name,
            "files_digest": adopted.skill.digest,
            "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "path": dest.relative_to(home).as_posix(),
            "granted": request if old is None or diff.empty else old.granted,
            "consent_diff": diff,
            "scan_verdict": adopted.verdict,
            "scan_findings": adopted.findings,
        }
    )


def place(home: Path, verified: Verified, old: LockedSkill | None) -> LockedSkill:
    """Unpack `verified` into its release folder; the entry that locks it."""
    release = verified.release
    dest = fresh(release_dir(home, release.name, release.version, release.digest))
    try:
        unpack_verified(verified, dest)
        adopted = adopt(dest, f"{release.name} {release.version}", release.manifest)
        if adopted.skill.version != release.version:
            raise MarketplaceError(
                409,
                f"the signed SKILL.md says version {adopted.skill.version!r}, the registry "
                f"{release.version!r}",
                code="entry_mismatch",
            )
    except BaseException:
        shutil.rmtree(dest.parent, ignore_errors=True)
        raise
    return locked(
        home,
        dest,
        adopted,
        old,
        version=release.version,
        digest=release.digest,
        publisher=release.publisher,
        key_id=release.key_id,
        registry=verified.registry,
        checkpoint_size=verified.checkpoint_size,
    )
