"""Reading `## Examples` bullets into runnable examples (`nexflow skill test`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nexflow_control.skills import read_examples
from nexflow_control.skills._examples import parse_example

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "expect", "expected", "code"),
    [
        ('Input `{"a": 1}` → output `{"a": 1}`.', "output", {"a": 1}, None),
        ('`{"a": 1}` -> `[1, 2]`', "output", [1, 2], None),
        ('`{"a": 1}` → `{"digest": "ba78…15ad"}`', "schema", None, None),
        ('`{"a": 1}` → `{"matches": false, ...}`', "schema", None, None),
        ('`{"p": "x"}` → fails with `{"error": "not_found", ...}`', "error", None, "not_found"),
        ('`{"p": "x"}` → fails with `not_found`', "error", None, "not_found"),
        ('`{"p": "x"}` → fails', "error", None, None),
    ],
)
def test_runnable_bullets(text: str, expect: str, expected: object, code: str | None) -> None:
    """A JSON input, an arrow and an expected JSON value, elision or error are runnable."""
    example = parse_example(3, text)
    assert (example.expect, example.expected, example.error_code) == (expect, expected, code)
    assert example.input is not None and example.line == 3


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("the same `uid` twice → fails", "no JSON object input"),
        ('`{"id": "5e1b…"}` → `{"ok": true}`', "elided"),
        ('`{"path": "a.csv"}`', "no expected result"),
        ('`{"path": "../x"}` → denied by policy (`path_outside_grant`)', "policy"),
        ('`{"cmd": "ls"}` → the files of `src/` in `stdout`', "not JSON"),
        ('`{"cmd": "ls"}` → a list of files', "prose"),
        ("`[1, 2]` → `[1, 2]`", "no JSON object input"),
    ],
)
def test_prose_bullets_are_skipped_with_a_reason(text: str, why: str) -> None:
    """Anything else is skipped, and says why."""
    example = parse_example(1, text)
    assert example.expect == "skip"
    assert why in example.reason


def test_only_the_examples_section_counts(tmp_path: Path) -> None:
    """Bullets elsewhere, in fenced blocks, or after the next heading of the same level
    are not examples; subsections count; a bullet may wrap; lines are the file's."""
    md = tmp_path / "SKILL.md"
    md.write_text(
        '---\nname: x\ndescription: y\n---\n\n## How to use\n\n- `{"a": 1}` → `{}`\n\n'
        '## Examples\n\n- `{"a": 1}` →\n  `{"a": 2}`\n\n```\n- `{"b": 1}` → `{}`\n```\n'
        '### Edge cases\n\n- `{"c": 1}` → `{}`\n\n## Notes\n\n- `{"d": 1}` → `{}`\n'
    )
    found = read_examples(md)
    assert [(e.line, e.input) for e in found] == [(12, {"a": 1}), (20, {"c": 1})]
    assert found[0].expected == {"a": 2}


def test_the_shipped_simple_skills_have_runnable_examples() -> None:
    """echo, checksum and data-query each carry examples `nexflow skill test` compares."""
    for name in ("echo", "checksum", "data-query"):
        kinds = [e.expect for e in read_examples(REPO / "skills" / name / "SKILL.md")]
        assert kinds.count("output") >= 2, name
