"""The catalog: every valid skill from a list of folders, keyed by name.

Folders are read in the order given (the control plane passes the built-in
``skills/`` first, then the user's). Each folder is either one skill folder
(it holds ``SKILL.md``) or a folder of skill folders; hidden entries and
folders without ``SKILL.md`` are skipped.

Duplicate names: the first skill loaded keeps the name; every later skill with
the same name is refused with a ``duplicate_name`` error, so a user skill can
never silently shadow a built-in one. A broken skill never hides the others.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from pathlib import Path

from ._diagnostics import Code, Diagnostic, Severity
from ._loader import SKILL_FILE, load_skill
from ._model import Skill


def skill_dirs(folder: Path) -> list[Path]:
    """``folder`` itself when it is a skill folder, else its skill subfolders, sorted."""
    if (folder / SKILL_FILE).exists():
        return [folder]
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        child
        for child in children
        if not child.name.startswith(".") and child.is_dir() and (child / SKILL_FILE).exists()
    ]


@dataclass(frozen=True)
class SkillCatalog:
    skills: dict[str, Skill] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()

    @classmethod
    def load(cls, dirs: list[tuple[Path, str]]) -> SkillCatalog:
        """Load every skill under each ``(folder, source label)``; never raises."""
        skills: dict[str, Skill] = {}
        diagnostics: list[Diagnostic] = []
        for folder, source in dirs:
            if not folder.is_dir():
                diagnostics.append(
                    Diagnostic(
                        folder, 1, "", Code.PATH_MISSING, "skill folder not found", Severity.WARNING
                    )
                )
                continue
            for skill_dir in skill_dirs(folder):
                result = load_skill(skill_dir, source)
                diagnostics.extend(result.diagnostics)
                skill = result.skill
                if skill is None:
                    continue
                first = skills.get(skill.name)
                if first is not None:
                    diagnostics.append(
                        Diagnostic(
                            skill.skill_md,
                            1,
                            "name",
                            Code.DUPLICATE_NAME,
                            f"skill {skill.name!r} already loaded from {first.dir} "
                            f"({first.source}); this one is ignored",
                        )
                    )
                    continue
                skills[skill.name] = skill
        return cls(skills, tuple(diagnostics))

    def get(self, name: str) -> Skill | None:
        return self.skills.get(name)

    def list(self) -> list[Skill]:
        """All skills, sorted by name."""
        return [self.skills[name] for name in sorted(self.skills)]

    @property
    def errors(self) -> builtins.list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def __len__(self) -> int:
        return len(self.skills)
