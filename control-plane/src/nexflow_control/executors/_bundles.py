"""Skill bundles: a skill folder as the bytes an executor receives (`PutBundle`).

A bundle is an uncompressed POSIX (pax) tar of the folder with regular files and
directories only, in sorted name order, every entry owned by 0:0 with mtime 0 and mode
0755 (directories, executable files) or 0644 (other files), so that one folder always
gives the same bytes and the same sha256. `__pycache__` and `*.pyc` are left out, as in
the skill digest. A link to a file inside the folder is stored as that file's content;
a link that points outside the folder, or to a directory, and any other kind of file
refuse the bundle (`BundleRefused`). A skill's `shared` files (SKILL.md `shared:`, from
`_shared/` beside the folder) go in at the top under their names, as regular files, so
the bundle holds all the skill runs and nothing outside it is mounted. Bundles are cached
by skill digest: the digest covers every file and link the bundle is made of, shared
files included.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import NexflowError

_SKIP_DIRS = {"__pycache__"}


class BundleRefused(NexflowError):
    """The skill folder holds something a bundle may not carry."""

    status, code = 409, "bundle_refused"


@dataclass(frozen=True, slots=True)
class Bundle:
    sha256: str
    """64 lowercase hex digits."""
    data: bytes


def _member(rel: str, path: Path, root: Path) -> tuple[tarfile.TarInfo, bytes | None]:
    """The tar entry for `path` (and its content for a file)."""
    info = tarfile.TarInfo(rel)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    source = path
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root):
            raise BundleRefused(f"skill file {rel!r} is a link that points outside the skill")
        if target.is_dir():
            raise BundleRefused(f"skill file {rel!r} is a link to a directory")
        source = target
    mode = source.stat().st_mode
    if stat.S_ISDIR(mode):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        return info, None
    if not stat.S_ISREG(mode):
        raise BundleRefused(f"skill file {rel!r} is neither a regular file nor a directory")
    data = source.read_bytes()
    info.size = len(data)
    info.mode = 0o755 if mode & 0o111 else 0o644
    return info, data


def build_bundle(folder: Path, shared: Sequence[tuple[str, Path]] = ()) -> Bundle:
    """The bundle of a skill folder and its `shared` files (see the module docstring)."""
    root = folder.resolve()
    names: list[tuple[str, Path]] = []
    extra: dict[str, Path] = {}
    for rel, path in shared:
        if "/" in rel or rel in ("", ".", "..") or rel in extra:
            raise BundleRefused(f"shared file {rel!r} is not one plain file name")
        if path.is_symlink() or not path.is_file():
            raise BundleRefused(f"shared file {rel!r} is not a regular file")
        extra[rel] = path.resolve()
        names.append((rel, path))
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        base = Path(current)
        for name in dirs + [f for f in files if not f.endswith(".pyc")]:
            path = base / name
            names.append((path.relative_to(root).as_posix(), path))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in sorted(names):
            if rel in extra:
                info, data = _member(rel, extra[rel], extra[rel].parent)
            else:
                info, data = _member(rel, path, root)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    data = buf.getvalue()
    return Bundle(hashlib.sha256(data).hexdigest(), data)


class BundleCache:
    """Bundles by skill digest, built once each (off the event loop)."""

    def __init__(self) -> None:
        self._bundles: dict[str, Bundle] = {}
        self._lock = asyncio.Lock()

    async def get(
        self, folder: Path, skill_digest: str, shared: Sequence[tuple[str, Path]] = ()
    ) -> Bundle:
        bundle = self._bundles.get(skill_digest)
        if bundle is not None:
            return bundle
        async with self._lock:
            bundle = self._bundles.get(skill_digest)
            if bundle is None:
                bundle = await asyncio.to_thread(build_bundle, folder, shared)
                self._bundles[skill_digest] = bundle
            return bundle
