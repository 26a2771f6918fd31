"""Installed skills as the model's tools, and the model's tool calls read back as data.

Providers accept function names matching `^[a-zA-Z0-9_-]{1,64}$`; a skill name outside that
is rewritten (and made unique) and mapped back on the way in. There is no tool that
approves, denies or administers anything: the model can only ask for skill calls, and
the control plane decides each one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..control_plane import SkillInfo

_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")
MAX_NAME = 64
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def tool_name(skill: str) -> str:
    """`skill` in the provider's alphabet (`_` for anything else), at most 64 characters."""
    return (_ALLOWED.sub("_", skill) or "skill")[:MAX_NAME]


@dataclass(frozen=True)
class Toolbox:
    """The tools offered in one turn and the skill each name stands for."""

    specs: list[dict[str, Any]]
    skill_for: dict[str, str]

    @classmethod
    def from_skills(cls, skills: list[SkillInfo]) -> Toolbox:
        specs: list[dict[str, Any]] = []
        skill_for: dict[str, str] = {}
        for skill in sorted(skills, key=lambda s: s.name):
            name = tool_name(skill.name)
            n = 2
            while name in skill_for:
                suffix = f"_{n}"
                name = tool_name(skill.name)[: MAX_NAME - len(suffix)] + suffix
                n += 1
            skill_for[name] = skill.name
            schema = skill.input_schema if skill.input_schema else _EMPTY_SCHEMA
            specs.append(
                {
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": skill.description[:1024],
                        "parameters": schema,
                    },
                }
            )
        return cls(specs, skill_for)


class BadToolCall(Exception):
    """A tool call the gateway refuses before it reaches the control plane."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_arguments(raw: object, limit: int) -> dict[str, Any]:
    """The tool call's arguments as a JSON object, or `BadToolCall` saying what is wrong."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise BadToolCall("invalid_arguments", "arguments must be a JSON object in a string")
    size = len(raw.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise BadToolCall("arguments_too_large", f"arguments are {size} bytes; at most {limit}")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadToolCall("invalid_arguments", f"arguments are not JSON: {exc}"[:300]) from exc
    if not isinstance(value, dict):
        raise BadToolCall("invalid_arguments", "arguments must be a JSON object")
    return value
