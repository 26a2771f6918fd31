"""The catalog: every valid skill from a list of folders, keyed by name.

Folders are read in the order given (the control plane passes the built-in
``skills/`` first, then the user's). Each folder is either one skill folder
(it holds ``SKILL.md``) or a folder of skill folders; hidden entries and
folders without ``SKILL.md`` are skipped.

Duplicate names: the first skill loaded keeps the name; every later skill with
the same name is refused with a ``duplicate_name`` error, so a user skill can
never silently shadow a built-in one. A broken skill never hides the others: even
an exception inside the loader (a bug) becomes a ``load_failed`` diagnostic for that
folder alone.

The catalog's diagnostics name files relative to the skills folder they were found in
(``echo/SKILL.md``): they are shown over HTTP, and host paths are not the caller's business.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field, replace
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
                        Path(folder.name),
                        1,
                        "",
                        Code.PATH_MISSING,
                        f"{source} skill folder not found",
                        Severity.WARNING,
                    )
                )
                continue
            found = skill_dirs(folder)
            base = folder.parent if found == [folder] else folder
            for skill_dir in found:
                skill, problems = _load_one(skill_dir, source)
                diagnostics.extend(_relative(d, base) for d in problems)
                if skill is None:
                    continue
                first = skills.get(skill.name)
                if first is not None:
                    diagnostics.append(
                        Diagnostic(
                            _relative_path(skill.skill_md, base),
                            1,
                            "name",
                            Code.DUPLICATE_NAME,
                            f"skill {skill.name!r} already loaded from folder {first.dir.name!r} "
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


def _load_one(skill_dir: Path, source: str) -> tuple[Skill | None, list[Diagnostic]]:
    try:
        result = load_skill(skill_dir, source)
    except Exception as exc:  # a loader bug must cost one skill, never the server
        message = f"the loader failed on this skill ({type(exc).__name__}); it is not loaded"
        return None, [Diagnostic(skill_dir / SKILL_FILE, 1, "", Code.LOAD_FAILED, message)]
    return result.skill, result.diagnostics


def _relative_path(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return Path(path.name)


def _relative(diagnostic: Diagnostic, base: Path) -> Diagnostic:
    return replace(diagnostic, file=_relative_path(diagnostic.file, base))
