"""The Markdown body of a SKILL.md: headings and fenced JSON schema blocks.

A schema may live in the body as the first fenced ``json`` (or ``json5``/``jsonc``
or unlabelled) block under a ``## Input schema`` / ``## Output schema`` heading,
before the next heading of the same or a higher level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_SCHEMA_HEADING = re.compile(r"^(input|output)[\s_-]*schema\b", re.IGNORECASE)
_JSON_LANGS = {"", "json", "json5", "jsonc"}


@dataclass(frozen=True, slots=True)
class FencedBlock:
    """A fenced block: its text and the 1-based file line of its opening fence."""

    text: str
    line: int


@dataclass(frozen=True, slots=True)
class BodySchemas:
    input: FencedBlock | None
    output: FencedBlock | None
    headings: tuple[str, ...]


def scan_body(body: str, first_line: int) -> BodySchemas:
    """Find headings and the schema blocks; ``first_line`` is the body's file line."""
    lines = body.split("\n")
    headings: list[str] = []
    found: dict[str, FencedBlock] = {}
    section: tuple[str, int] | None = None  # (kind, heading level)
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            end = _fence_end(lines, i, fence.group(1))
            kind = section[0] if section else None
            lang = fence.group(2).lower()
            if kind and kind not in found and lang in _JSON_LANGS:
                found[kind] = FencedBlock("\n".join(lines[i + 1 : end]), first_line + i)
            i = end + 1
            continue
        heading = _HEADING.match(lines[i])
        if heading:
            level, title = len(heading.group(1)), heading.group(2)
            headings.append(title)
            schema = _SCHEMA_HEADING.match(title)
            if schema:
                section = (schema.group(1).lower(), level)
            elif section and level <= section[1]:
                section = None
        i += 1
    return BodySchemas(found.get("input"), found.get("output"), tuple(headings))


def _fence_end(lines: list[str], start: int, marker: str) -> int:
    closing = re.compile(rf"^\s{{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
    for j in range(start + 1, len(lines)):
        if closing.match(lines[j]):
            return j
    return len(lines)
