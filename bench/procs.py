"""Resident memory of a process tree, read from /proc (the stack's figures in `spine`)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Footprint", "MemorySampler", "footprint", "tree"]

_PROC = Path("/proc")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (_PROC / entry.name / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        # the command name is in parentheses and may hold spaces: the ppid follows it
        ppid = int(stat.rpartition(")")[2].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree(root: int) -> list[int]:
    """`root` and every process below it (children of children too)."""
    kids = _children()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(kids.get(pid, ()))
    return found


def _kib(pid: int, path: str, field: str) -> int:
    try:
        for line in (_PROC / str(pid) / path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True, slots=True)
class Footprint:
    """One reading: processes, resident size summed (shared pages counted in each), and
    proportional size summed (shared pages split between their users)."""

    processes: int
    rss_kib: int
    pss_kib: int

    def __str__(self) -> str:
        return (
            f"RSS {self.rss_kib / 1024:6.1f} MiB (PSS {self.pss_kib / 1024:6.1f} MiB) "
            f"over {self.processes} processes"
        )


def footprint(root: int) -> Footprint:
    """The resident size of `root`'s whole tree now."""
    pids = tree(root)
    rss = sum(_kib(p, "status", "VmRSS:") for p in pids)
    pss = sum(_kib(p, "smaps_rollup", "Pss:") for p in pids)
    return Footprint(len(pids), rss, pss)


class MemorySampler:
    """Reads `footprint(root)` every `every_s` on a thread until stopped; `peak` is the
    reading with the largest RSS."""

    def __init__(self, root: int, every_s: float = 0.25) -> None:
        self._root = root
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.readings: list[Footprint] = []

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.readings.append(footprint(self._root))
            self._stop.wait(self._every_s)

    @property
    def peak(self) -> Footprint:
        return max(self.readings, key=lambda f: f.rss_kib, default=Footprint(0, 0, 0))
