"""Helpers for the SKILL.md tests: write a skill folder from text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"
BUILTIN_SKILLS = Path(__file__).resolve().parents[3] / "skills"

WriteSkill = Callable[..., Path]


@pytest.fixture
def write_skill(tmp_path: Path) -> WriteSkill:
    """Return a function that writes ``<tmp>/<name>/SKILL.md`` (+ files) and returns the folder."""

    def write(
        frontmatter: str,
        body: str = "",
        name: str = "demo",
        files: dict[str, str] | None = None,
    ) -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "SKILL.md").write_text(f"---\n{frontmatter}---\n{body}", encoding="utf-8")
        for rel, text in (files or {}).items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return folder

    return write
