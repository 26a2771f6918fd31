"""``lint_paths``/``lint_command``: output lines, JSON document and exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

from nexflow_control.skills import Code, lint_command, lint_paths

CORPUS = Path(__file__).parent / "corpus"
BUILTIN = Path(__file__).resolve().parents[3] / "skills"


def test_builtin_skills_are_valid() -> None:
    """Every built-in skill lints clean: no error and no warning."""
    out = io.StringIO()
    assert lint_command([BUILTIN], False, out) == 0
    count = len(list(BUILTIN.glob("*/SKILL.md")))
    assert count >= 24
    assert out.getvalue() == f"ok: {count} valid skill(s), 0 error(s), 0 warning(s)\n"


def test_valid_corpus_exit_zero() -> None:
    """The valid corpus exits 0."""
    assert lint_command([CORPUS / "valid"], False, io.StringIO()) == 0


def test_text_output_and_exit_one() -> None:
    """An invalid skill prints ``file:line: field: message [code]`` and exits 1."""
    out = io.StringIO()
    assert lint_command([CORPUS / "invalid" / "wrong-name"], False, out) == 1
    first = out.getvalue().splitlines()[0]
    path = CORPUS / "invalid" / "wrong-name" / "SKILL.md"
    assert first.startswith(f"{path}:2: name: ")
    assert first.endswith("[name_mismatch]")


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    """Warnings are printed but the exit code stays 0."""
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "SKILL.md").write_text("---\nname: demo\ndescription: d\nx: 1\n---\n")
    out = io.StringIO()
    assert lint_command([tmp_path / "demo" / "SKILL.md"], False, out) == 0
    assert ":4: x: warning: unknown field 'x' [unknown_field]" in out.getvalue()


def test_json_document() -> None:
    """``as_json`` prints one JSON document with every diagnostic."""
    out = io.StringIO()
    code = lint_command([CORPUS / "valid", CORPUS / "invalid" / "bad-sandbox"], True, out)
    doc = json.loads(out.getvalue())
    assert code == 1 and doc["valid"] is False
    assert doc["errors"] == 4 and doc["warnings"] == 0
    assert "nexflow-full" in doc["skills"]
    first = doc["diagnostics"][0]
    assert set(first) == {"file", "line", "field", "code", "message", "severity"}
    assert {d["field"] for d in doc["diagnostics"]} == {
        "permissions[2]",
        "sandbox.filesystem[0].path",
        "sandbox.filesystem[1].mode",
        "sandbox.network[0]",
    }


def test_missing_and_empty_paths(tmp_path: Path) -> None:
    """A missing path and a folder with no skills are errors, not crashes."""
    codes = [d.code for d in lint_paths([tmp_path / "nope", tmp_path])]
    assert codes == [Code.PATH_MISSING, Code.NO_SKILLS_FOUND]
