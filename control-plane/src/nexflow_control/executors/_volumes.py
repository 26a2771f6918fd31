"""Volumes: directories the control plane and its executors both know by name.

A granted host path inside a volume's root travels as (volume, subpath), so an executor on
another machine mounts its own copy of that volume; `nexflow up` gives its executor the
same names (`workspace` → HOME/workspace by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


class Volumes:
    """Volume name → root directory, as the control plane sees them."""

    def __init__(self, roots: Mapping[str, Path]) -> None:
        # Longest root first: a volume nested in another wins for paths inside it.
        self._roots = sorted(
            ((name, Path(root)) for name, root in roots.items()),
            key=lambda item: len(item[1].parts),
            reverse=True,
        )

    def locate(self, host_path: str) -> tuple[str, str] | None:
        """(volume, subpath) of `host_path`, or None when it lies in no volume."""
        path = Path(host_path)
        for name, root in self._roots:
            if path == root:
                return name, "."
            if path.is_relative_to(root):
                return name, path.relative_to(root).as_posix()
        return None
