"""The SKILL.md loader never crashes: each class of hostile content gives a diagnostic
naming file, line and field, and the catalog quarantines that folder alone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nexflow_control.skills import Code, SkillCatalog, load_skill
from nexflow_control.skills import _catalog as catalog_module

from .conftest import BUILTIN_SKILLS, WriteSkill

OK = "name: demo\ndescription: d\n"


@pytest.mark.parametrize(
    ("frontmatter", "body", "line", "field", "code"),
    [
        pytest.param(
            "name: demo\ndescription: a\x01b\n", "", 3, "", Code.CONTROL_CHARACTER, id="raw-ctrl"
        ),
        pytest.param(
            OK, "text \x1b[2J clears a terminal\n", 5, "", Code.CONTROL_CHARACTER, id="ansi-body"
        ),
        pytest.param(OK + 'emoji: "\\x07"\n', "", 4, "emoji", Code.UNSAFE_VALUE, id="escaped-ctrl"),
        pytest.param(OK + 'emoji: "\\ud800"\n', "", 4, "", Code.YAML_SYNTAX, id="lone-surrogate"),
        pytest.param(
            OK + "metadata: {x: .inf}\n", "", 4, "metadata.x", Code.UNSAFE_VALUE, id="inf"
        ),
        pytest.param(
            OK + "metadata: {x: .nan}\n", "", 4, "metadata.x", Code.UNSAFE_VALUE, id="nan"
        ),
        pytest.param(
            OK + "metadata: {x: 1.0e+999}\n",
            "",
            4,
            "metadata.x",
            Code.UNSAFE_VALUE,
            id="float-overflow",
        ),
        pytest.param(
            OK + "metadata: {x: " + "9" * 40 + "}\n",
            "",
            4,
            "metadata.x",
            Code.UNSAFE_VALUE,
            id="big-int",
        ),
        pytest.param(
            OK + "metadata: {x: " + "9" * 5000 + "}\n",
            "",
            4,
            "metadata.x",
            Code.YAML_SYNTAX,
            id="int-digit-limit",
        ),
        pytest.param(
            OK + "metadata: '{x: " + "9" * 5000 + "}'\n",
            "",
            4,
            "metadata",
            Code.BAD_JSON5,
            id="json5-int-digit-limit",
        ),
        pytest.param(
            OK + "metadata: '{x: Infinity}'\n",
            "",
            4,
            "metadata",
            Code.BAD_JSON5,
            id="json5-infinity",
        ),
        pytest.param(OK + "base: {a: 1}\n<<: {b: 2}\n", "", 5, "", Code.YAML_TAG, id="merge-key"),
        pytest.param(
            OK + "!!python/name:os.system : 1\n", "", 4, "", Code.YAML_TAG, id="tagged-key"
        ),
        pytest.param(OK + "x: !!set {a, b}\n", "", 4, "x", Code.YAML_TAG, id="set"),
        pytest.param(
            OK + "x: !!python/object/apply:os.system [id]\n",
            "",
            4,
            "x",
            Code.YAML_TAG,
            id="python-tag",
        ),
        pytest.param(
            OK + "location: " + "a/" * 3000 + "x\n",
            "",
            4,
            "location",
            Code.ENTRYPOINT_MISSING,
            id="long-path",
        ),
    ],
)
def test_hostile_value_gives_one_diagnostic(
    write_skill: WriteSkill, frontmatter: str, body: str, line: int, field: str, code: Code
) -> None:
    """The skill is refused with the expected code, line and field; nothing raises."""
    result = load_skill(write_skill(frontmatter, body))
    assert result.skill is None
    found = [(d.line, d.field, d.code) for d in result.diagnostics if d.is_error]
    assert found == [(line, field, code)], found


def test_timestamps_stay_strings(write_skill: WriteSkill) -> None:
    """A YAML timestamp is kept as the text written, not a datetime the API cannot carry."""
    result = load_skill(write_skill(OK + "metadata: {released: 2001-12-14t21:59:43.10-05:00}\n"))
    assert result.skill is not None
    assert result.skill.metadata == {"released": "2001-12-14t21:59:43.10-05:00"}


def test_large_json5_schema_block_parses_fast(write_skill: WriteSkill) -> None:
    """A 1 000-property JSON5 schema block (comments, trailing commas) loads fast."""
    props = ",\n".join(f"  p{i}: {{type: 'string', /* c */ maxLength: 10,}}" for i in range(1000))
    body = f"\n## Input schema\n\n```json5\n{{type: 'object', properties: {{\n{props}\n}}}}\n```\n"
    start = time.monotonic()
    result = load_skill(write_skill(OK, body))
    assert result.skill is not None, [d.format() for d in result.diagnostics]
    assert time.monotonic() - start < 2


def test_bad_folder_is_quarantined_with_a_relative_path(tmp_path: Path) -> None:
    """One broken folder among good ones: the good ones load, the bad one is listed with a
    path relative to its skills folder (no host path)."""
    root = tmp_path / "skills"
    (root / "good").mkdir(parents=True)
    (root / "good" / "SKILL.md").write_text("---\nname: good\ndescription: fine\n---\n")
    (root / "bad").mkdir()
    (root / "bad" / "SKILL.md").write_bytes(b"---\nname: bad\ndescription: \x00\n---\n")
    catalog = SkillCatalog.load([(root, "user"), (tmp_path / "gone", "extra")])
    assert [s.name for s in catalog.list()] == ["good"]
    files = [str(d.file) for d in catalog.diagnostics]
    assert files == ["bad/SKILL.md", "gone"]
    assert all(str(tmp_path) not in d.format() for d in catalog.diagnostics)


def test_a_loader_bug_costs_one_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception escaping the loader (a bug) becomes `load_failed` for that folder only."""
    real = catalog_module.load_skill

    def flaky(skill_dir: Path, source: str = "user") -> object:
        if skill_dir.name == "echo":
            raise ZeroDivisionError("simulated loader bug")
        return real(skill_dir, source)

    monkeypatch.setattr(catalog_module, "load_skill", flaky)
    catalog = SkillCatalog.load([(BUILTIN_SKILLS, "builtin")])
    assert catalog.get("echo") is None and len(catalog) > 1
    (bug,) = catalog.errors
    assert (str(bug.file), bug.code) == ("echo/SKILL.md", Code.LOAD_FAILED)
