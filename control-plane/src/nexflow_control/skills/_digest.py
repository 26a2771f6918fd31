"""A deterministic ``sha256:<hex>`` digest over a skill folder.

Every regular file and symlink under the folder (``__pycache__`` and ``*.pyc``
skipped) contributes its relative POSIX path and its content, in sorted path
order, each part length-prefixed so that no two folders can collide by moving
bytes between a name and a content. Symlinks are never followed: their target
text is hashed instead. `shared` files (SKILL.md's `shared:`, taken from `_shared/`
beside the folder) count as files at the folder's top under their names: a skill's
digest is that of the folder as it is packed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

_SKIP_DIRS = {"__pycache__"}
_CHUNK = 1024 * 1024


def _entries(root: Path, shared: Sequence[tuple[str, Path]] = ()) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = list(shared)
    for current, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        base = Path(current)
        for name in files:
            if name.endswith(".pyc"):
                continue
            path = base / name
            found.append((path.relative_to(root).as_posix(), path))
        for name in dirs:
            path = base / name
            if path.is_symlink():  # os.walk lists it as a dir but never enters it
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def _frame(hasher: hashlib._Hash, kind: bytes, data: bytes) -> None:
    hasher.update(kind + len(data).to_bytes(8, "big") + data)


def _file_hash(path: Path) -> bytes:
    """sha256 of a regular file's content; a fixed marker for anything else."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return b"special"
        inner = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                inner.update(chunk)
        return inner.digest()
    except OSError:
        return b"unreadable"


def skill_digest(root: Path, shared: Sequence[tuple[str, Path]] = ()) -> str:
    """``sha256:<hex>`` over the folder's files and `shared` (see the module docstring)."""
    hasher = hashlib.sha256()
    for rel, path in _entries(root, shared):
        _frame(hasher, b"P", rel.encode("utf-8", "surrogateescape"))
        if path.is_symlink():
            _frame(hasher, b"L", os.fsencode(os.readlink(path)))
            continue
        _frame(hasher, b"F", _file_hash(path))
    return "sha256:" + hasher.hexdigest()
