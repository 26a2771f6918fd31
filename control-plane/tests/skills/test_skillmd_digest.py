"""The skill digest is deterministic and follows every file change."""

from __future__ import annotations

import shutil
from pathlib import Path

from nexflow_control.skills import skill_digest

SOURCE = Path(__file__).parent / "corpus" / "valid" / "nexflow-full"


def _copy(tmp_path: Path, name: str = "nexflow-full") -> Path:
    return Path(shutil.copytree(SOURCE, tmp_path / name))


def test_stable_across_copies(tmp_path: Path) -> None:
    """Two copies of the same folder (different places) have the same digest."""
    first, second = _copy(tmp_path / "a"), _copy(tmp_path / "b")
    digest = skill_digest(first)
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert skill_digest(second) == digest == skill_digest(first)


def test_changes_with_content(tmp_path: Path) -> None:
    """Changing one byte of the script changes the digest."""
    folder = _copy(tmp_path)
    before = skill_digest(folder)
    (folder / "run.py").write_text("print('changed')\n")
    assert skill_digest(folder) != before


def test_changes_with_new_file_and_rename(tmp_path: Path) -> None:
    """Adding a file, or renaming one, changes the digest."""
    folder = _copy(tmp_path)
    before = skill_digest(folder)
    (folder / "extra.txt").write_text("")
    added = skill_digest(folder)
    (folder / "extra.txt").rename(folder / "other.txt")
    assert len({before, added, skill_digest(folder)}) == 3


def test_ignores_pycache(tmp_path: Path) -> None:
    """Byte-code caches do not change the digest."""
    folder = _copy(tmp_path)
    before = skill_digest(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "run.cpython-311.pyc").write_bytes(b"\0junk")
    assert skill_digest(folder) == before


def test_symlink_target_not_followed(tmp_path: Path) -> None:
    """A symlink is hashed by its target text, so an outside file's content is never read."""
    folder = _copy(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("one")
    (folder / "link").symlink_to(outside)
    before = skill_digest(folder)
    outside.write_text("two")
    assert skill_digest(folder) == before
