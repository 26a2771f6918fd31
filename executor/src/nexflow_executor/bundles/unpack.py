"""Unpack one skill bundle (an uncompressed POSIX tar) into a fresh directory, or refuse it.

Only regular files and directories are accepted; every name is relative, has no `..`
component and appears once; at most `max_entries` entries and `max_unpacked_bytes` bytes
of file content. Nothing is ever created through a link (the archive cannot make one).
What is unpacked is owned by the executor and read-only for everyone: files 0444 (0555
when the archive marks them executable), directories 0555.

A refusal is an `InvalidRequest` naming the entry; the caller removes the partial tree.
"""

from __future__ import annotations

import errno
import os
import tarfile
from pathlib import Path

from nexflow_executor.errors import InvalidRequest
from nexflow_executor.settings import BundleSettings

__all__ = ["unpack"]

_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)
_KINDS = {
    tarfile.SYMTYPE: "symbolic link",
    tarfile.LNKTYPE: "hard link",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
    tarfile.CONTTYPE: "contiguous file",
    tarfile.GNUTYPE_SPARSE: "sparse file",
}
# An entry the file system refuses because of the archive's own shape (a name too long, a
# file where a directory must go) is the archive's fault; a full disk is not.
_ENTRY_ERRNOS = {errno.ENAMETOOLONG, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ELOOP}
_COPY_CHUNK = 1024 * 1024


def unpack(archive: Path, target: Path, limits: BundleSettings) -> int:
    """Unpack `archive` into `target` (created here; must not exist) and seal it read-only.

    Returns the unpacked bytes (the sum of the files' sizes)."""
    target.mkdir(mode=0o700)
    try:
        with tarfile.open(archive, mode="r:") as tar:
            total, executable = _extract_all(tar, target, limits)
    except tarfile.TarError as exc:
        raise InvalidRequest("bundle", f"not an uncompressed POSIX tar ({exc})") from None
    _seal(target, executable)
    return total


def _extract_all(
    tar: tarfile.TarFile, target: Path, limits: BundleSettings
) -> tuple[int, set[Path]]:
    seen: set[str] = set()
    executable: set[Path] = set()
    total = 0
    for count, member in enumerate(tar, start=1):
        field = f"bundle entry {member.name[:200]!r}"
        if count > limits.max_entries:
            raise InvalidRequest(field, f"more than {limits.max_entries} entries")
        name = _entry_name(field, member)
        if name is None:
            continue
        if name in seen:
            raise InvalidRequest(field, "appears twice")
        seen.add(name)
        path = target / name
        try:
            if member.type == tarfile.DIRTYPE:
                os.makedirs(path, mode=0o700, exist_ok=True)
                if not path.is_dir() or path.is_symlink():
                    raise InvalidRequest(field, "names a file and a directory")
                continue
            total += member.size
            if total > limits.max_unpacked_bytes:
                raise InvalidRequest(
                    field, f"the bundle unpacks to more than {limits.max_unpacked_bytes} bytes"
                )
            _write_file(tar, member, path)
        except OSError as exc:
            if exc.errno in _ENTRY_ERRNOS:
                raise InvalidRequest(field, f"cannot be unpacked: {exc.strerror}") from None
            raise
        if member.mode & 0o111:
            executable.add(path)
    return total, executable


def _entry_name(field: str, member: tarfile.TarInfo) -> str | None:
    """The entry's normalised relative name; None for the archive's root directory."""
    if member.type not in (*_FILE_TYPES, tarfile.DIRTYPE):
        kind = _KINDS.get(member.type, f"type {member.type!r}")
        raise InvalidRequest(field, f"is a {kind}; only regular files and directories")
    raw = member.name
    if raw.startswith("/") or "\x00" in raw:
        raise InvalidRequest(field, "must be a relative path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidRequest(field, "must not contain a '..' component")
    if not parts:
        if member.type != tarfile.DIRTYPE:
            raise InvalidRequest(field, "has no name")
        return None
    return "/".join(parts)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - only for non-regular members, refused above
        raise InvalidRequest(f"bundle entry {member.name!r}", "has no content")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as out, source:
        while chunk := source.read(_COPY_CHUNK):
            out.write(chunk)


def _seal(target: Path, executable: set[Path]) -> None:
    """Everything read-only for everyone; only the executor (root) owns it."""
    for root, dirs, files in os.walk(target, topdown=False):
        for name in files:
            path = Path(root) / name
            os.chmod(path, 0o555 if path in executable else 0o444)
        for name in dirs:
            os.chmod(Path(root) / name, 0o555)  # noqa: S103 - read-only, readable by the sandbox
    os.chmod(target, 0o555)  # noqa: S103 - the same
