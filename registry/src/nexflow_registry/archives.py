"""Safe inspection and unpacking of an uploaded package (.tar.gz or .zip).

Every member is checked before a byte is written: its name (no `..`, no absolute path,
no backslash or NUL, no duplicate, also case-folded), its type (regular files and folders
only: no symbolic or hard link, no device, FIFO or other special file), the number of
members, each file's size, the total, and the ratio of unpacked to packed bytes. Files are
then written into a temporary folder beside the destination, sizes counted as they are
read, and the folder renamed into place only when the whole archive passed: a refused
archive leaves nothing behind. Each refusal is an `ArchiveRefused` whose code is stable
(`archive_*`) and whose message names the member.
"""

from __future__ import annotations

import io
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from .errors import ArchiveRefused


@dataclass(frozen=True)
class Limits:
    max_entries: int = 1000
    max_file_bytes: int = 10 * 1024 * 1024
    max_total_bytes: int = 50 * 1024 * 1024
    max_ratio: int = 100
    """unpacked bytes per packed byte, over the whole archive (zip bombs)"""


@dataclass(frozen=True)
class Member:
    name: str
    is_dir: bool
    size: int
    open: Callable[[], IO[bytes]]


def archive_format(data: bytes) -> str:
    """`tar.gz` or `zip` from the magic bytes; `archive_format_unknown` otherwise."""
    if data[:2] == b"\x1f\x8b":
        return "tar.gz"
    if data[:4] == b"PK\x03\x04":
        return "zip"
    raise ArchiveRefused("archive_format_unknown", "<archive>", "neither a .tar.gz nor a .zip")


def _clean_name(raw: str) -> str:
    if not raw or "\x00" in raw or "\\" in raw:
        raise ArchiveRefused("archive_bad_name", raw, "empty name, NUL or backslash in the name")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise ArchiveRefused("archive_absolute_path", raw, "an absolute path")
    parts = [p for p in PurePosixPath(raw).parts if p != "."]
    if ".." in parts:
        raise ArchiveRefused("archive_path_traversal", raw, "a '..' component leaves the folder")
    return "/".join(parts)


def _tar_members(data: bytes) -> Iterator[tuple[str, Member | None, str]]:
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115
        for info in tar:
            kind = "ok"
            if info.issym() or info.islnk():
                kind = "archive_link"
            elif not (info.isreg() or info.isdir()):
                kind = "archive_special_file"
            member = Member(
                info.name,
                info.isdir(),
                info.size if info.isreg() else 0,
                lambda info=info: tar.extractfile(info) or io.BytesIO(),  # type: ignore[misc]
            )
            yield info.name, member, kind
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveRefused(
            "archive_malformed", "<archive>", f"not a readable .tar.gz ({exc})"
        ) from exc


def _zip_members(data: bytes) -> Iterator[tuple[str, Member | None, str]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        for info in zf.infolist():
            ftype = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix type recorded
            kind = "ok"
            if ftype == stat.S_IFLNK:
                kind = "archive_link"
            elif ftype not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "archive_special_file"
            member = Member(
                info.filename,
                info.is_dir(),
                info.file_size,
                lambda info=info: zf.open(info),  # type: ignore[misc]
            )
            yield info.filename, member, kind
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveRefused(
            "archive_malformed", "<archive>", f"not a readable .zip ({exc})"
        ) from exc


def _checked(data: bytes, limits: Limits) -> list[tuple[str, Member]]:
    reader = _tar_members if archive_format(data) == "tar.gz" else _zip_members
    seen: set[str] = set()
    out: list[tuple[str, Member]] = []
    total = 0
    for raw, member, kind in reader(data):
        if len(out) >= limits.max_entries:
            raise ArchiveRefused(
                "archive_too_many_entries", raw, f"over {limits.max_entries} entries"
            )
        name = _clean_name(raw)
        if kind != "ok":
            what = "a link" if kind == "archive_link" else "a device, FIFO or special file"
            raise ArchiveRefused(kind, raw, f"{what}; only files and folders are allowed")
        assert member is not None
        if name.casefold() in seen:
            raise ArchiveRefused("archive_duplicate", raw, "a second member with this name")
        seen.add(name.casefold())
        if member.size > limits.max_file_bytes:
            raise ArchiveRefused(
                "archive_file_too_large", raw, f"over {limits.max_file_bytes} bytes"
            )
        total += member.size
        if total > limits.max_total_bytes:
            raise ArchiveRefused(
                "archive_too_large", raw, f"over {limits.max_total_bytes} bytes in all"
            )
        if total > limits.max_ratio * max(len(data), 1):
            raise ArchiveRefused(
                "archive_bomb", raw, f"unpacks to over {limits.max_ratio}x its size"
            )
        if name:
            out.append((name, member))
    return _strip_single_top(out)


def _strip_single_top(members: list[tuple[str, Member]]) -> list[tuple[str, Member]]:
    """`echo/SKILL.md, echo/run.py` → `SKILL.md, run.py` (one top folder and nothing else)."""
    tops = {name.split("/", 1)[0] for name, _ in members}
    if len(tops) != 1 or not any("/" in name for name, _ in members):
        return members
    return [(name.split("/", 1)[1], m) for name, m in members if "/" in name]


def _copy(member: Member, name: str, target: Path, limits: Limits) -> None:
    written = 0
    with member.open() as src, open(target, "xb") as out:
        while chunk := src.read(64 * 1024):
            written += len(chunk)
            if written > member.size or written > limits.max_file_bytes:
                raise ArchiveRefused("archive_size_mismatch", name, "more bytes than declared")
            out.write(chunk)


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unpack(data: bytes, dest: Path, limits: Limits | None = None) -> None:
    """Check every member, then unpack into `dest` (which must not exist) all at once."""
    limits = limits or Limits()
    members = _checked(data, limits)
    if dest.exists():
        raise FileExistsError(dest)
    with _staging(dest) as tmp:
        root = tmp / "root"
        root.mkdir()
        try:
            for name, member in members:
                target = root / name
                if member.is_dir:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy(member, name, target, limits)
        except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            raise ArchiveRefused("archive_malformed", name, f"cannot be unpacked ({exc})") from exc
        root.rename(dest)
