"""What the registry reads from a package's SKILL.md front matter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import BadRequest

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class SkillInfo:
    name: str
    version: str
    description: str
    tags: list[str]
    permissions: list[str]


def _refuse(message: str) -> BadRequest:
    return BadRequest(f"SKILL.md: {message}", code="bad_skill_md")


def read(folder: Path, identity: tuple[str, str] | None = None) -> SkillInfo:
    """The front matter's name, version, description, tags and permission names; with
    `identity`, name and version come from it (a ClawHub publish names them in its body)."""
    path = folder / "SKILL.md"
    if not path.is_file():
        raise _refuse("the package has no SKILL.md at its top")
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---\n") or "\n---" not in text[4:]:
        raise _refuse("line 1: no '---' front matter")
    try:
        front = yaml.safe_load(text[4 : text.index("\n---", 4)])
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 2
        raise _refuse(f"line {line}: the front matter is not valid YAML") from exc
    if not isinstance(front, dict):
        raise _refuse("the front matter is not a mapping")
    name, version = identity or (front.get("name"), front.get("version"))
    if not isinstance(name, str) or not NAME.match(name):
        raise _refuse("field 'name' must be lowercase letters, digits and '-' (1-64)")
    if not isinstance(version, str):
        raise _refuse("field 'version' must be a string")
    tags = front.get("tags") or []
    perms = front.get("permissions") or []
    if not isinstance(tags, list) or not isinstance(perms, list):
        raise _refuse("fields 'tags' and 'permissions' must be lists")
    return SkillInfo(
        name=name,
        version=version,
        description=str(front.get("description") or ""),
        tags=[str(t) for t in tags],
        permissions=[p if isinstance(p, str) else str(p.get("name", p)) for p in perms],
    )
