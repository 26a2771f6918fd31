#!/usr/bin/env python3
"""archive-extract: unpack a zip or tar archive into a new workspace folder (stdin: JSON
input, stdout: JSON result). Two passes: every header is checked first, then regular
files and folders are written, counting real bytes. Any failure removes what was written.
"""

import json
import os
import shutil
import stat
import sys
import tarfile
import zipfile

LIMIT_BYTES = 512 << 20
LIMIT_ENTRIES = 10000
CHUNK = 1 << 16


class Refused(Exception):
    def __init__(self, code, message, **extra):
        super().__init__(message)
        self.code, self.extra = code, extra


def fail(code, message, **extra):
    print(json.dumps({"error": code, "message": message, **extra}))
    sys.exit(1)


def clean_parts(name):
    """The path parts of a safe entry name; Refused naming why it is unsafe."""
    if not name or "\0" in name:
        raise Refused("unsafe_entry", "an entry has an empty name", entry=name, reason="empty_name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise Refused("unsafe_entry", f"{name!r} is absolute", entry=name, reason="absolute_path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(
            "unsafe_entry", f"{name!r} leaves the folder", entry=name, reason="parent_reference"
        )
    return parts


def zip_members(archive):
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            yield info.filename, "symlink", None, 0
        elif info.is_dir():
            yield info.filename, "dir", None, 0
        else:
            yield info.filename, "file", info, mode & 0o111


def tar_members(archive):
    for member in archive:
        kind = (
            "file"
            if member.isreg()
            else "dir"
            if member.isdir()
            else "symlink"
            if member.issym()
            else "hardlink"
            if member.islnk()
            else "device"
            if member.ischr() or member.isblk()
            else "fifo"
            if member.isfifo()
            else "other"
        )
        yield member.name, kind, member, member.mode & 0o111


def plan(members, max_entries):
    """Check every entry before anything is written: (parts, kind, handle, exec) list."""
    out, seen = [], set()
    for name, kind, handle, executable in members:
        if len(out) >= max_entries:
            raise Refused("too_many_entries", f"the archive has more than {max_entries} entries")
        parts = clean_parts(name)
        if kind not in ("file", "dir"):
            raise Refused(
                "unsafe_entry", f"{name!r} is a {kind}", entry=name, reason=f"{kind}_entry"
            )
        key = "/".join(parts)
        if key in seen:
            raise Refused(
                "unsafe_entry", f"{name!r} appears twice", entry=name, reason="duplicate_name"
            )
        seen.add(key)
        if parts:
            out.append((parts, kind, handle, executable))
    return out


def write_all(entries, dest, opener, max_bytes):
    files = dirs = written = 0
    for parts, kind, handle, executable in entries:
        parent = dest
        for part in parts[:-1] if kind == "file" else parts:
            parent = os.path.join(parent, part)
            if not os.path.isdir(parent) or os.path.islink(parent):
                os.mkdir(parent, 0o755)
                dirs += 1
        if kind == "dir":
            continue
        target = os.path.join(dest, *parts)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(target, flags, 0o755 if executable else 0o644)
        with os.fdopen(fd, "wb") as out, opener(handle) as src:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise Refused("too_large", f"the content exceeds {max_bytes} bytes")
                out.write(chunk)
        files += 1
    return files, dirs, written


def prepare_dest(root, dest):
    if not isinstance(dest, str) or not dest or "\0" in dest:
        fail("bad_input", "'dest' must be a non-empty string")
    target = os.path.realpath(os.path.join(root, dest))
    if not target.startswith(root + os.sep):
        fail("outside_workspace", f"{dest!r} is outside the workspace")
    if os.path.lexists(target):
        if not os.path.isdir(target) or os.listdir(target):
            fail("dest_not_empty", f"{dest!r} exists and is not an empty folder")
        return target, False
    os.makedirs(target, 0o755)
    return target, True


def limits(data):
    out = []
    for key, default, top in (
        ("max_bytes", 64 << 20, LIMIT_BYTES),
        ("max_entries", 10000, LIMIT_ENTRIES),
    ):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            fail("bad_input", f"'{key}' must be an integer from 1 to {top}")
        out.append(value)
    return out


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("bad_input", "input must be a JSON object")
    path = data.get("path")
    if not isinstance(path, str) or not path or "\0" in path:
        fail("bad_input", "'path' must be a non-empty string")
    max_bytes, max_entries = limits(data)
    root = os.path.realpath(os.environ.get("NEXFLOW_WORKSPACE", "/workspace"))
    real = os.path.realpath(os.path.join(root, path))
    if not real.startswith(root + os.sep) or not os.path.isfile(real):
        fail("not_found", f"{path!r} is not a file in the workspace")
    with open(real, "rb") as fh:
        fmt = "zip" if zipfile.is_zipfile(fh) else "tar"
        fh.seek(0)
        try:
            if fmt == "zip":
                archive = zipfile.ZipFile(fh)
                entries = plan(zip_members(archive), max_entries)
                opener = archive.open
            else:
                archive = tarfile.open(fileobj=fh, mode="r:*")  # noqa: SIM115 - read below, closed with fh
                entries = plan(tar_members(archive), max_entries)
                opener = archive.extractfile
        except Refused as exc:
            fail(exc.code, str(exc), **exc.extra)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
            fail("not_an_archive", f"{path!r} is not a readable zip or tar archive: {exc}")
        target, created = prepare_dest(root, data.get("dest"))
        try:
            files, dirs, written = write_all(entries, target, opener, max_bytes)
        except (Refused, OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
            if created:
                shutil.rmtree(target, ignore_errors=True)
            else:
                for name in os.listdir(target):
                    full = os.path.join(target, name)
                    shutil.rmtree(full) if os.path.isdir(full) and not os.path.islink(
                        full
                    ) else os.unlink(full)
            if isinstance(exc, Refused):
                fail(exc.code, str(exc), **exc.extra)
            fail("extract_failed", f"{type(exc).__name__}: {exc}")
    rel = os.path.relpath(target, root)
    print(f"archive-extract: {files} file(s), {written} byte(s) to {rel}", file=sys.stderr)
    print(json.dumps({"dest": rel, "format": fmt, "files": files, "dirs": dirs, "bytes": written}))


if __name__ == "__main__":
    main()
