"""SKILL.md `secrets:`: the names a skill declares, checked where they are written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from nexflow_control.skills import Code, load_skill

WriteSkill = Callable[..., Path]
BASE = "name: demo\ndescription: d\nlocation: ./run.py\nruntime: python\n"
RUN = {"run.py": "print('{}')\n"}


def test_declared_secrets_are_loaded_in_order(write_skill: WriteSkill) -> None:
    """`secrets: [b_token, a_key]` loads as written and shows in the detail view."""
    folder = write_skill(BASE + "permissions: [secrets]\nsecrets: [b_token, a_key]\n", files=RUN)
    result = load_skill(folder)
    assert result.diagnostics == []
    assert result.skill is not None and result.skill.secrets == ("b_token", "a_key")
    assert result.skill.to_detail()["secrets"] == ["b_token", "a_key"]


@pytest.mark.parametrize(
    ("line", "field", "code"),
    [
        ("secrets: [GitHub_Token]", "secrets[0]", Code.BAD_SECRET_NAME),
        ("secrets: [ok, 9lives]", "secrets[1]", Code.BAD_SECRET_NAME),
        ("secrets: [dup, dup]", "secrets[1]", Code.BAD_VALUE),
        ("secrets: github_token", "secrets", Code.BAD_TYPE),
        ("secrets: [{a: 1}]", "secrets[0]", Code.BAD_TYPE),
    ],
    ids=["upper-case", "leading-digit", "duplicate", "not-a-list", "not-a-string"],
)
def test_bad_secret_declarations_are_errors(
    write_skill: WriteSkill, line: str, field: str, code: Code
) -> None:
    """A bad entry is an error naming the field (the skill does not load), with its line."""
    folder = write_skill(BASE + "permissions: [secrets]\n" + line + "\n", files=RUN)
    result = load_skill(folder)
    assert result.skill is None
    errors = [(d.field, d.code) for d in result.diagnostics if d.is_error]
    assert errors == [(field, code)]
    assert all(d.line == 7 for d in result.diagnostics if d.is_error)  # the `secrets:` line


def test_secrets_without_the_permission_class_warn(write_skill: WriteSkill) -> None:
    """Declaring secrets without `permissions: [secrets]` loads, with a warning."""
    folder = write_skill(BASE + "secrets: [api_key]\n", files=RUN)
    result = load_skill(folder)
    assert result.skill is not None
    warnings = [(d.field, d.code) for d in result.diagnostics if not d.is_error]
    assert warnings == [("secrets", Code.PERMISSION_NOT_DECLARED)]


def test_optional_secrets_load_without_the_permission_class(write_skill: WriteSkill) -> None:
    """`optional_secrets:` loads beside `secrets:`, needs no `secrets` permission class and
    shows in the detail view."""
    text = BASE + "permissions: [secrets]\nsecrets: [a_key]\noptional_secrets: [b_token]\n"
    result = load_skill(write_skill(text, files=RUN))
    assert result.diagnostics == []
    assert result.skill is not None and result.skill.optional_secrets == ("b_token",)
    assert result.skill.to_detail()["optional_secrets"] == ["b_token"]
    alone = load_skill(write_skill(BASE + "optional_secrets: [b_token]\n", files=RUN))
    assert alone.diagnostics == [] and alone.skill is not None
    assert alone.skill.secrets == () and alone.skill.optional_secrets == ("b_token",)


@pytest.mark.parametrize(
    ("lines", "field", "code"),
    [
        ("optional_secrets: [Bad]", "optional_secrets[0]", Code.BAD_SECRET_NAME),
        ("optional_secrets: [x, x]", "optional_secrets[1]", Code.BAD_VALUE),
        ("secrets: [x]\noptional_secrets: [y, x]", "optional_secrets[1]", Code.BAD_VALUE),
        ("optional_secrets: x", "optional_secrets", Code.BAD_TYPE),
    ],
    ids=["bad-name", "duplicate", "also-required", "not-a-list"],
)
def test_bad_optional_secrets_are_errors(
    write_skill: WriteSkill, lines: str, field: str, code: Code
) -> None:
    """A bad optional entry, or a name both required and optional, is an error naming it."""
    folder = write_skill(BASE + "permissions: [secrets]\n" + lines + "\n", files=RUN)
    result = load_skill(folder)
    assert result.skill is None
    errors = [(d.field, d.code) for d in result.diagnostics if d.is_error]
    assert errors == [(field, code)]
