"""Install a skill from a local folder or a ClawHub-format archive (zip or .tar.gz) sent by
the caller: unsigned, so never `publisher_verified`; unpacked with the registry's safe
unpacker, scanned, placed under the home and locked with the archive's sha256 like a
registry release (disk work: run it in a thread)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from nexflow_registry import archives
from nexflow_registry.client import VerificationFailed
from nexflow_registry.errors import ArchiveRefused
from nexflow_registry.skillmd import NAME

from ..skills._document import read_document
from ._lock import LockedSkill, Lockfile
from ._place import adopt, fresh, locked
from ._sources import INSTALLED, LOCAL, release_dir

LOCAL_VERSION = "0.0.0"
"""the version of a local skill whose SKILL.md names none (OpenClaw's often do not)"""


def place_archive(home: Path, data: bytes, lock: Lockfile, label: str) -> LockedSkill:
    """Unpack `data` (named `label` in messages), scan it, load it and move it into its
    release folder; the entry that locks it (`consent_diff` against an earlier install of
    the same name). Nothing stays on disk when anything is refused."""
    digest = hashlib.sha256(data).hexdigest()
    (home / INSTALLED).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".upload-", dir=home / INSTALLED))
    try:
        try:
            archives.unpack(data, scratch / "pkg")
        except ArchiveRefused as exc:
            raise VerificationFailed(f"{label}: {exc.message}", code=exc.code) from exc
        folder = _named(scratch / "pkg")
        adopted = adopt(folder, label, None)
        skill = adopted.skill
        version = skill.version or LOCAL_VERSION
        dest = fresh(release_dir(home, skill.name, version, digest))
        folder.rename(dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return locked(
        home,
        dest,
        adopted,
        lock.skills.get(skill.name),
        version=version,
        digest=digest,
        publisher=skill.author or "",
        key_id="",
        registry=LOCAL,
        checkpoint_size=0,
        verified=False,
    )


def _named(folder: Path) -> Path:
    """`folder` renamed after its SKILL.md's `name` (the loader wants them equal); as it is
    when the name is missing or unusable (the loader then says why)."""
    doc, _ = read_document(folder / "SKILL.md")
    name = doc.frontmatter.get("name") if doc is not None else None
    if not isinstance(name, str) or not NAME.match(name):
        return folder
    return folder.rename(folder.with_name(name))
