"""``nexflow skill lint``: check SKILL.md files and print what is wrong.

A path may be a skill folder, a SKILL.md file, or a folder of skill folders.
Text output is one ``file:line: field: message [code]`` line per diagnostic
and a summary; ``--json`` prints one JSON document instead. Exit code: 0 when
no error was found (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from ..diagnostics import write_report
from ._catalog import skill_dirs
from ._diagnostics import Code, Diagnostic
from ._loader import SKILL_FILE, load_skill


def _targets(path: Path) -> tuple[list[Path], list[Diagnostic]]:
    if path.name == SKILL_FILE and not path.is_dir():
        if not path.exists():
            return [], [Diagnostic(path, 1, "", Code.PATH_MISSING, "no such file")]
        return [path.parent], []
    if not path.is_dir():
        return [], [Diagnostic(path, 1, "", Code.PATH_MISSING, "not a skill folder or SKILL.md")]
    found = skill_dirs(path)
    if not found:
        return [], [Diagnostic(path, 1, "", Code.NO_SKILLS_FOUND, f"no {SKILL_FILE} found here")]
    return found, []


def lint_report(paths: list[Path]) -> tuple[list[str], list[Diagnostic]]:
    """(names of the skills that loaded, all diagnostics) for the given paths."""
    names: list[str] = []
    diagnostics: list[Diagnostic] = []
    for path in paths:
        dirs, problems = _targets(path)
        diagnostics.extend(problems)
        for skill_dir in dirs:
            result = load_skill(skill_dir)
            diagnostics.extend(result.diagnostics)
            if result.skill is not None:
                names.append(result.skill.name)
    return names, diagnostics


def lint_paths(paths: list[Path]) -> list[Diagnostic]:
    """Every diagnostic (errors and warnings) for the given paths."""
    return lint_report(paths)[1]


def lint_command(paths: list[Path], as_json: bool, out: TextIO) -> int:
    """Print the lint result to ``out``; return 0 when valid, 1 when any error."""
    names, diagnostics = lint_report(paths)
    valid = write_report(
        out, diagnostics, as_json=as_json, key="skills", items=names, noun="valid skill(s)"
    )
    return 0 if valid else 1
