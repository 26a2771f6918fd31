"""Turn a verified release into a release folder and its lockfile entry (disk work: run it
in a thread). The folder is removed again if the release does not load as a skill or its
signed SKILL.md names another version than the registry does."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from nexflow_registry.client import Verified, unpack_verified

from ..skills import load_skill
from ._errors import MarketplaceError
from ._lock import LockedSkill
from ._request import SkillRequest, added, request_of
from ._sources import SOURCE, release_dir


def place(home: Path, verified: Verified, old: LockedSkill | None) -> LockedSkill:
    """Unpack `verified` into its release folder; the entry that locks it. An update whose
    request exceeds `old`'s approval carries the excess as `consent_diff`."""
    release = verified.release
    dest = release_dir(home, release.name, release.version, release.digest)
    if dest.parent.exists():
        shutil.rmtree(dest.parent)  # a leftover of an interrupted install
    dest.parent.mkdir(parents=True)
    try:
        unpack_verified(verified, dest)
        loaded = load_skill(dest, SOURCE)
        if loaded.skill is None:
            first = next((d for d in loaded.diagnostics if d.is_error), None)
            raise MarketplaceError(
                422,
                f"{release.name} {release.version} does not load: "
                f"{first.message if first else 'invalid SKILL.md'}",
                code="skill_invalid",
            )
        if loaded.skill.version != release.version:
            raise MarketplaceError(
                409,
                f"the signed SKILL.md says version {loaded.skill.version!r}, the registry "
                f"{release.version!r}",
                code="entry_mismatch",
            )
    except BaseException:
        shutil.rmtree(dest.parent, ignore_errors=True)
        raise
    request = request_of(loaded.skill)
    diff = SkillRequest() if old is None else added(old.granted, request)
    return LockedSkill(
        name=release.name,
        version=release.version,
        digest=release.digest,
        files_digest=loaded.skill.digest,
        publisher=release.publisher,
        key_id=release.key_id,
        registry=verified.registry,
        installed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        checkpoint_size=verified.checkpoint_size,
        path=dest.relative_to(home).as_posix(),
        granted=request if old is None or diff.empty else old.granted,
        consent_diff=diff,
    )
