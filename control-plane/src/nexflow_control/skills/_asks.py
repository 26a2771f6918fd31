"""What a skill asks a human to consent to, computed once from its SKILL.md.

The control plane's install consent (marketplace `SkillRequest`) and the registry's
published `Requests` of a version are the same facts about a skill: if they were
computed apart, a registry could show one thing and an install grant another. Both
subclass `SkillAsks` and build it with `of(skill)`; this package is the one both import
(the registry pulls only the skills package, the control plane pulls the registry).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field

from ._model import Skill


def required_env(skill: Skill) -> frozenset[str]:
    """The environment variables (secrets) the skill requires, from either field."""
    env = frozenset(skill.requirements.env)
    if isinstance(skill.env_required, tuple):
        env |= frozenset(skill.env_required)
    return env


class SkillAsks(BaseModel):
    """Network hosts, filesystem paths with their mode, permission classes, secrets,
    the runtime and the image a skill asks for."""

    hosts: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)
    """`PATH (ro|rw)`"""
    permissions: list[str] = Field(default_factory=list)
    secrets: list[str] = Field(default_factory=list)
    """environment variables the skill requires"""
    runtime: str | None = None
    image: str | None = None

    @classmethod
    def of(cls, skill: Skill) -> Self:
        return cls(
            hosts=sorted({str(n) for n in skill.network}),
            paths=sorted({f"{f.path} ({f.mode})" for f in skill.filesystem}),
            permissions=sorted(str(p) for p in skill.permissions),
            secrets=sorted(required_env(skill)),
            runtime=str(skill.runtime) if skill.runtime else None,
            image=skill.image_ref,
        )
