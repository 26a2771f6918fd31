"""Finds the setuid and setgid files and directories in the system directories nsjail mounts.

The nsjail backend bind-mounts the host's /usr (nosuid, and the script runs with
no_new_privs, so the bits grant nothing); each file found here is still hidden behind an
empty file and each directory behind an empty tmpfs, so a skill sees none of them at all.
The walk runs once per executor process (cached; the backend's check() does it at start):
a setuid file installed on the host later is neutralised by nosuid but not hidden until
the executor restarts.
"""

from __future__ import annotations

import functools
import os
import stat

__all__ = ["privileged_files"]

_BITS = stat.S_ISUID | stat.S_ISGID


@functools.cache
def privileged_files(roots: tuple[str, ...]) -> tuple[tuple[str, bool], ...]:
    """(path, is_dir) of every setuid/setgid entry below `roots` (symlinked roots skipped)."""
    found: list[tuple[str, bool]] = []
    pending = [root for root in roots if os.path.isdir(root) and not os.path.islink(root)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                continue
            if mode & _BITS:
                found.append((entry.path, stat.S_ISDIR(mode)))
            if stat.S_ISDIR(mode):
                pending.append(entry.path)
    return tuple(sorted(found))
