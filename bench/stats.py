"""Small statistics helpers shared by the benchmarks."""

from __future__ import annotations

import os
import statistics


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary(name: str, samples_ms: list[float], extra: str = "") -> str:
    return (
        f"  {name:<44} p50 {pct(samples_ms, 50):8.2f} ms   p99 {pct(samples_ms, 99):8.2f} ms"
        f"   mean {statistics.fmean(samples_ms):8.2f} ms  n={len(samples_ms)} {extra}"
    )


def proc_stat(text: str) -> tuple[int, int]:
    """(parent pid, CPU clock ticks: own user + system and its waited-for children's) from
    the text of /proc/PID/stat; the command name may hold spaces and parentheses."""
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based.
    return int(fields[1]), sum(int(f) for f in fields[11:15])


def tree_cpu_ms(root: int) -> float:
    """CPU milliseconds used so far by process `root` and all its descendants (a child
    that has exited and been waited for is in its parent's count)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    parents[int(entry.name)], ticks[int(entry.name)] = proc_stat(f.read())
            except (OSError, ValueError):
                continue  # gone meanwhile
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(ticks.get(p, 0) for p in tree) * 1000 / os.sysconf("SC_CLK_TCK")
