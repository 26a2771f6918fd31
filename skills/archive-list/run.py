#!/usr/bin/env python3
"""archive-list: list a zip or tar archive of the workspace and flag unsafe entries
(stdin: JSON input, stdout: JSON result). Only headers are read; nothing is extracted."""

import json
import os
import stat
import sys
import tarfile
import zipfile

MAX_ENTRIES = 10000


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def unsafe_name(name):
    """Why `name` may not be extracted, or None."""
    if not name or "\0" in name:
        return "empty_name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute_path"
    if ".." in name.replace("\\", "/").split("/"):
        return "parent_reference"
    return None


def zip_entries(fh):
    with zipfile.ZipFile(fh) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            kind = "dir" if info.is_dir() else "symlink" if stat.S_ISLNK(mode) else "file"
            yield info.filename, kind, info.file_size


def tar_entries(fh):
    with tarfile.open(fileobj=fh, mode="r:*") as archive:
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
            yield member.name, kind, member.size


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    path = data.get("path") if isinstance(data, dict) else None
    if not isinstance(path, str) or not path or "\0" in path:
        fail("bad_input", "'path' must be a non-empty string")
    limit = data.get("max_entries", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ENTRIES:
        fail("bad_input", f"'max_entries' must be an integer from 1 to {MAX_ENTRIES}")
    root = os.path.realpath(os.environ.get("NEXFLOW_WORKSPACE", "/workspace"))
    real = os.path.realpath(os.path.join(root, path))
    if not real.startswith(root + os.sep):
        fail("outside_workspace", f"{path!r} is outside the workspace")
    try:
        fh = open(real, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        fail("not_found" if exc.errno == 2 else "cannot_read", f"{path!r}: {exc.strerror}")
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fail("not_a_file", f"{path!r} is not a regular file")
    fmt = "zip" if zipfile.is_zipfile(fh) else "tar"
    fh.seek(0)
    entries, seen, count, total, flagged = [], set(), 0, 0, 0
    try:
        for name, kind, size in (zip_entries if fmt == "zip" else tar_entries)(fh):
            count += 1
            if count > MAX_ENTRIES:
                fail("too_many_entries", f"the archive has more than {MAX_ENTRIES} entries")
            total += size
            reason = unsafe_name(name)
            if reason is None and kind in ("symlink", "hardlink", "device", "fifo", "other"):
                reason = f"{kind}_entry"
            key = name.rstrip("/")
            if reason is None and key in seen:
                reason = "duplicate_name"
            seen.add(key)
            if len(entries) < limit:
                entry = {"name": name, "type": kind, "size": size}
                if reason:
                    entry["unsafe"] = reason
                entries.append(entry)
            flagged += reason is not None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        fail("not_an_archive", f"{path!r} is not a readable zip or tar archive: {exc}")
    print(f"archive-list: {count} entr(ies) in {fmt}", file=sys.stderr)
    print(
        json.dumps(
            {
                "format": fmt,
                "count": count,
                "total_size": total,
                "entries": entries,
                "safe": flagged == 0,
                "truncated": count > len(entries),
            }
        )
    )


if __name__ == "__main__":
    main()
