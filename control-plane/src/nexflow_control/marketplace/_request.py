"""What a skill asks for, and what an update asks for beyond what was approved.

The request is the set of things a human consents to when installing: network hosts,
filesystem paths (with their mode), permission classes, secrets (environment variables the
skill requires), the runtime and the image. `added(old, new)` is the difference an update
must have approved before it runs; a changed runtime or image counts as added.
"""

from __future__ import annotations

from ..skills import Skill, SkillAsks


class SkillRequest(SkillAsks):
    # The consent an install grants; its fields and how they are read: `SkillAsks`. (A
    # comment, not a docstring: the API schema of this model stays as it was.)

    @property
    def empty(self) -> bool:
        return not (
            self.hosts or self.paths or self.permissions or self.secrets
            or self.runtime or self.image
        )  # fmt: skip

    def lines(self) -> list[str]:
        """`+ host api.example.com`, one line per added thing (a diff's body)."""
        out = [f"+ {kind} {item}" for kind, items in self._lists() for item in items]
        if self.runtime:
            out.append(f"+ runtime {self.runtime}")
        if self.image:
            out.append(f"+ image {self.image}")
        return out

    def _lists(self) -> list[tuple[str, list[str]]]:
        return [
            ("host", self.hosts),
            ("path", self.paths),
            ("permission", self.permissions),
            ("secret", self.secrets),
        ]


def request_of(skill: Skill) -> SkillRequest:
    return SkillRequest.of(skill)


def added(old: SkillRequest, new: SkillRequest) -> SkillRequest:
    """What `new` asks for that `old` did not."""
    return SkillRequest(
        hosts=sorted(set(new.hosts) - set(old.hosts)),
        paths=sorted(set(new.paths) - set(old.paths)),
        permissions=sorted(set(new.permissions) - set(old.permissions)),
        secrets=sorted(set(new.secrets) - set(old.secrets)),
        runtime=new.runtime if new.runtime != old.runtime else None,
        image=new.image if new.image != old.image else None,
    )
