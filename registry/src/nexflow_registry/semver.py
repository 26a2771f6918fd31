"""Semantic Versioning 2.0.0: parse and order (build metadata is kept, never compared)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadRequest

_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...]
    text: str

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """Precedence: a pre-release sorts before its release; numeric ids before alphanumeric."""
        ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, ids)


def parse(text: str) -> Version:
    """A `Version`, or `BadRequest(bad_version)`."""
    found = _RE.match(text) if len(text) <= 128 else None
    if not found:
        raise BadRequest(
            f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)", code="bad_version"
        )
    pre = tuple(found.group(4).split(".")) if found.group(4) else ()
    return Version(int(found.group(1)), int(found.group(2)), int(found.group(3)), pre, text)
