"""One case per diagnostic code: file, line, field and code are all right."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from nexflow_control.skills import Code, Severity, load_skill

WriteSkill = Callable[..., Path]

OK = "name: demo\ndescription: d\n"
RUN = {"run.py": "print('{}')\n"}

# (id, frontmatter, body, files, code, line, field, severity)
CASES = [
    ("missing_name", "description: d\n", "", None, Code.MISSING_FIELD, 1, "name", "error"),
    (
        "empty_desc",
        "name: demo\ndescription: ''\n",
        "",
        None,
        Code.MISSING_FIELD,
        3,
        "description",
        "error",
    ),
    ("bad_name", "name: Demo_X\ndescription: d\n", "", None, Code.BAD_NAME, 2, "name", "error"),
    (
        "name_mismatch",
        "name: other\ndescription: d\n",
        "",
        None,
        Code.NAME_MISMATCH,
        2,
        "name",
        "error",
    ),
    (
        "too_long",
        "name: demo\ndescription: " + "x" * 1025 + "\n",
        "",
        None,
        Code.FIELD_TOO_LONG,
        3,
        "description",
        "error",
    ),
    ("bad_type", OK + "tags: 5\n", "", None, Code.BAD_TYPE, 4, "tags", "error"),
    ("bad_version", OK + "version: one\n", "", None, Code.BAD_VERSION, 4, "version", "error"),
    ("numeric_version", OK + "version: 1.0\n", "", None, Code.BAD_TYPE, 4, "version", "warning"),
    (
        "unknown_permission",
        OK + "permissions: [shell, root]\n",
        "",
        None,
        Code.UNKNOWN_PERMISSION,
        4,
        "permissions[1]",
        "error",
    ),
    (
        "bad_runtime",
        OK + "location: run.py\nruntime: cobol\n",
        "",
        RUN,
        Code.BAD_RUNTIME,
        5,
        "runtime",
        "error",
    ),
    (
        "no_runtime",
        OK + "location: tool\n",
        "",
        {"tool": "data"},
        Code.BAD_RUNTIME,
        4,
        "location",
        "error",
    ),
    ("bad_image", OK + "image: 'Not An Image!'\n", "", None, Code.BAD_IMAGE, 4, "image", "error"),
    (
        "bad_path",
        OK + "sandbox:\n  filesystem:\n    - path: relative/dir\n      mode: ro\n",
        "",
        None,
        Code.BAD_PATH,
        6,
        "sandbox.filesystem[0].path",
        "error",
    ),
    (
        "dotdot_path",
        OK + "sandbox:\n  filesystem:\n    - {path: '${workspace}/../x'}\n",
        "",
        None,
        Code.BAD_PATH,
        6,
        "sandbox.filesystem[0].path",
        "error",
    ),
    (
        "bad_mode",
        OK + "sandbox:\n  filesystem:\n    - path: /data\n      mode: rwx\n",
        "",
        None,
        Code.BAD_MODE,
        7,
        "sandbox.filesystem[0].mode",
        "error",
    ),
    (
        "bad_host",
        OK + "sandbox:\n  network:\n    - ok.example.com\n    - 'a.com:99999'\n",
        "",
        None,
        Code.BAD_NETWORK_HOST,
        7,
        "sandbox.network[1]",
        "error",
    ),
    (
        "wildcard_tld",
        OK + "sandbox:\n  network: ['*.com']\n",
        "",
        None,
        Code.BAD_NETWORK_HOST,
        5,
        "sandbox.network[0]",
        "error",
    ),
    (
        "schema_not_object",
        OK + "input_schema:\n  type: string\n",
        "",
        None,
        Code.INVALID_SCHEMA,
        4,
        "input_schema",
        "error",
    ),
    (
        "schema_meta",
        OK + "output_schema:\n  type: 5\n",
        "",
        None,
        Code.INVALID_SCHEMA,
        4,
        "output_schema",
        "error",
    ),
    (
        "schema_body",
        OK,
        '\n# T\n\n## Input schema\n\n```json\n{"type": "object",\n'
        ' "properties": {"a": {"type": 5}}}\n```\n',
        None,
        Code.INVALID_SCHEMA,
        10,
        "input_schema",
        "error",
    ),
    (
        "schema_body_json",
        OK,
        "## Output schema\n```json\n{not json\n```\n",
        None,
        Code.INVALID_SCHEMA,
        6,
        "output_schema",
        "error",
    ),
    (
        "path_mark",
        OK + "input_schema:\n  type: object\n  properties:\n    p:\n      type: string\n"
        "      x-nexflow-path: delete\n",
        "",
        None,
        Code.INVALID_SCHEMA,
        9,
        "input_schema.properties.p.x-nexflow-path",
        "error",
    ),
    (
        "schema_conflict",
        OK + "input_schema: {type: object}\n",
        '## Input schema\n```json\n{"type": "object"}\n```\n',
        None,
        Code.SCHEMA_CONFLICT,
        4,
        "input_schema",
        "warning",
    ),
    (
        "outside",
        OK + "location: ../outside.py\n",
        "",
        None,
        Code.ENTRYPOINT_OUTSIDE_SKILL,
        4,
        "location",
        "error",
    ),
    (
        "absolute",
        OK + "location: /usr/bin/python3\n",
        "",
        None,
        Code.ENTRYPOINT_OUTSIDE_SKILL,
        4,
        "location",
        "error",
    ),
    (
        "missing_entry",
        OK + "location: ./nope.py\n",
        "",
        None,
        Code.ENTRYPOINT_MISSING,
        4,
        "location",
        "error",
    ),
    (
        "dir_entry",
        OK + "location: sub\n",
        "",
        {"sub/x.py": ""},
        Code.ENTRYPOINT_MISSING,
        4,
        "location",
        "error",
    ),
    ("yaml_syntax", OK + "tags: [a, b\n", "", None, Code.YAML_SYNTAX, 4, "", "error"),
    ("yaml_alias", OK + "a: &x [1]\nb: *x\n", "", None, Code.YAML_ALIAS, 5, "b", "error"),
    (
        "yaml_tag",
        OK + "x: !!python/object/apply:os.system ['id']\n",
        "",
        None,
        Code.YAML_TAG,
        4,
        "x",
        "error",
    ),
    ("yaml_local_tag", OK + "x: !custom 1\n", "", None, Code.YAML_TAG, 4, "x", "error"),
    ("duplicate_key", OK + "name: demo\n", "", None, Code.DUPLICATE_KEY, 4, "name", "error"),
    ("not_mapping", "- a\n- b\n", "", None, Code.BAD_TYPE, 2, "", "error"),
    (
        "bad_json5",
        OK + "metadata: '{openclaw: [unclosed'\n",
        "",
        None,
        Code.BAD_JSON5,
        4,
        "metadata",
        "error",
    ),
    (
        "bad_json5_nested",
        OK + "metadata:\n  openclaw: '{bins: }'\n",
        "",
        None,
        Code.BAD_JSON5,
        5,
        "metadata.openclaw",
        "error",
    ),
    (
        "bad_value",
        OK + "metadata: {timeoutSec: 0}\n",
        "",
        None,
        Code.BAD_VALUE,
        4,
        "metadata.timeoutSec",
        "error",
    ),
    ("unknown_field", OK + "colour: red\n", "", None, Code.UNKNOWN_FIELD, 4, "colour", "warning"),
    (
        "req_file",
        OK + "requirements:\n  files: [./gone.sh]\n",
        "",
        None,
        Code.REQUIREMENT_FILE_MISSING,
        5,
        "requirements.files[0]",
        "warning",
    ),
    (
        "perm_missing",
        OK + "sandbox:\n  network: [api.example.com]\n",
        "",
        None,
        Code.PERMISSION_NOT_DECLARED,
        5,
        "sandbox.network",
        "warning",
    ),
]


@pytest.mark.parametrize(
    ("frontmatter", "body", "files", "code", "line", "field", "severity"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_diagnostic(
    write_skill: WriteSkill,
    frontmatter: str,
    body: str,
    files: dict[str, str] | None,
    code: Code,
    line: int,
    field: str,
    severity: str,
) -> None:
    """Each broken SKILL.md yields the expected code at the right file, line and field."""
    folder = write_skill(frontmatter, body, files=files)
    (folder.parent / "outside.py").write_text("print(1)\n")
    result = load_skill(folder)
    found = [d for d in result.diagnostics if d.code is code]
    assert found, [d.format() for d in result.diagnostics]
    diag = found[0]
    assert (diag.file, diag.line, diag.field, diag.severity) == (
        folder / "SKILL.md",
        line,
        field,
        Severity(severity),
    )
    assert (result.skill is None) == (severity == "error")


def test_symlinked_entrypoint_outside(write_skill: WriteSkill, tmp_path: Path) -> None:
    """An entrypoint that is a symlink leading out of the skill folder is refused."""
    (tmp_path / "secret.py").write_text("print(1)\n")
    folder = write_skill(OK + "location: run.py\n")
    (folder / "run.py").symlink_to(tmp_path / "secret.py")
    result = load_skill(folder)
    assert result.skill is None
    assert [d.code for d in result.diagnostics] == [Code.ENTRYPOINT_OUTSIDE_SKILL]


def test_several_errors_reported_together(write_skill: WriteSkill) -> None:
    """All independent errors in one file are reported, not just the first."""
    folder = write_skill("name: Bad!\ndescription: d\npermissions: [x]\nversion: no\n")
    codes = {d.code for d in load_skill(folder).diagnostics}
    assert {Code.BAD_NAME, Code.UNKNOWN_PERMISSION, Code.BAD_VERSION} <= codes
