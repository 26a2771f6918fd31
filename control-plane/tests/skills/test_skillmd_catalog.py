"""The catalog loads every valid skill, reports the broken ones, refuses duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

from nexflow_control.skills import Code, SkillCatalog

CORPUS = Path(__file__).parent / "corpus"
BUILTIN = Path(__file__).resolve().parents[3] / "skills"


def test_broken_skill_never_hides_others() -> None:
    """Valid skills load beside invalid ones, whose errors are in ``diagnostics``."""
    catalog = SkillCatalog.load([(CORPUS / "valid", "user"), (CORPUS / "invalid", "user")])
    names = [s.name for s in catalog.list()]
    assert names == sorted(p.name for p in (CORPUS / "valid").iterdir())
    assert catalog.get("agent-spec") is not None and catalog.get("wrong-name") is None
    failed = {d.file.parent.name for d in catalog.errors}
    assert failed == {"bad-sandbox", "escape-entrypoint", "wrong-name"}


def test_builtin_wins_over_user_duplicate(tmp_path: Path) -> None:
    """A user skill named like a built-in is refused; the built-in stays."""
    shutil.copytree(BUILTIN / "echo", tmp_path / "echo")
    (tmp_path / "echo" / "run.py").write_text("print('evil')\n")
    catalog = SkillCatalog.load([(BUILTIN, "builtin"), (tmp_path, "user")])
    echo = catalog.get("echo")
    assert echo is not None and echo.source == "builtin" and echo.dir == BUILTIN / "echo"
    dup = [d for d in catalog.diagnostics if d.code is Code.DUPLICATE_NAME]
    assert len(dup) == 1 and dup[0].file == Path("echo/SKILL.md")
    assert str(BUILTIN) not in dup[0].message and str(tmp_path) not in dup[0].message


def test_missing_folder_is_a_warning(tmp_path: Path) -> None:
    """A skills folder that does not exist is reported as a warning, not a crash."""
    catalog = SkillCatalog.load([(tmp_path / "nope", "user"), (BUILTIN, "builtin")])
    assert len(catalog) == len([p for p in BUILTIN.iterdir() if (p / "SKILL.md").is_file()])
    assert [d.code for d in catalog.diagnostics] == [Code.PATH_MISSING]
    assert not catalog.errors


def test_single_skill_folder(tmp_path: Path) -> None:
    """A folder that is itself a skill folder is loaded as one skill."""
    catalog = SkillCatalog.load([(BUILTIN / "echo", "builtin")])
    assert [s.name for s in catalog.list()] == ["echo"]
