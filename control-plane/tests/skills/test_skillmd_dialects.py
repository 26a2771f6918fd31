"""The three SKILL.md dialects in the corpus parse to the expected model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from nexflow_control.skills import (
    Dialect,
    FilesystemRequest,
    NetworkRequest,
    Permission,
    Runtime,
    Skill,
    load_skill,
)

VALID = Path(__file__).parent / "corpus" / "valid"
WriteSkill = Callable[..., Path]


def _load(name: str) -> Skill:
    result = load_skill(VALID / name, "test")
    assert result.skill is not None, [d.format() for d in result.diagnostics]
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    return result.skill


def test_agent_skills_spec() -> None:
    """A spec-only, instruction-only skill loads as non-executable with its spec fields."""
    skill = _load("agent-spec")
    assert skill.dialects == {Dialect.AGENT_SKILLS}
    assert not skill.executable and skill.entrypoint is None and skill.runtime is None
    assert skill.license == "Apache-2.0"
    assert skill.allowed_tools == ("Bash(pdftotext:*)", "Read")
    assert skill.metadata == {"owner": "docs-team", "version": "2.1"}
    assert skill.body.startswith("# PDF summary")
    assert skill.source == "test"


def test_nexflow_dialect() -> None:
    """Every Nexflow field reaches the model: limits, sandbox, schemas, path inputs."""
    skill = _load("nexflow-full")
    assert skill.dialects == {Dialect.NEXFLOW}
    assert (skill.version, skill.author, skill.category) == ("1.2.3-beta.1", "alice", "web")
    assert skill.entrypoint == Path("run.py") and skill.runtime is Runtime.PYTHON
    assert skill.permissions == {Permission.NETWORK, Permission.FILESYSTEM, Permission.SECRETS}
    assert (skill.timeout_sec, skill.max_output_kb) == (45, 128)
    assert skill.image == "ghcr.io/nexflow/python:3.11"
    assert skill.filesystem == (
        FilesystemRequest("${workspace}/docs", "rw"),
        FilesystemRequest("/usr/share/dict", "ro"),
    )
    assert skill.filesystem[0].resolve(Path("/home/u/ws")) == Path("/home/u/ws/docs")
    assert skill.network == (
        NetworkRequest("docs.example.org", 443),
        NetworkRequest("*.cdn.example.org", None),
    )
    assert skill.env_required == ("DOCS_TOKEN",)
    assert skill.requirements.env == ("DOCS_TOKEN",)
    assert skill.path_inputs == [("out", "write"), ("src", "read")]
    assert skill.output_schema == {"type": "object", "properties": {"bytes": {"type": "integer"}}}


def test_openclaw_inline_json5() -> None:
    """A JSON5 metadata block with comments, single quotes and trailing commas parses."""
    skill = _load("openclaw-json5")
    assert Dialect.OPENCLAW in skill.dialects
    assert skill.emoji == "🐙"
    assert skill.requirements.binaries == ("gh",)
    assert skill.requirements.env == ("GH_TOKEN",)
    assert skill.os == ("darwin", "linux")
    assert skill.install[0]["formula"] == "gh"
    assert not skill.executable


def test_openclaw_json5_string() -> None:
    """A ``clawdbot`` block written as a JSON5 string is parsed as OpenClaw metadata."""
    skill = _load("openclaw-string")
    assert skill.dialects == {Dialect.OPENCLAW}
    assert skill.requirements.binaries == ("gemini",)
    assert skill.os == ("linux",)


def test_runtime_from_shebang() -> None:
    """An extension-less entrypoint gets its runtime from the shebang; body schema is read."""
    skill = _load("shebang-tool")
    assert skill.runtime is Runtime.NODE
    assert skill.input_schema == {"type": "object", "properties": {"q": {"type": "string"}}}


def test_seed_metadata_json(write_skill: WriteSkill) -> None:
    """The seed's ``metadata: {"timeoutSec": 30, ...}`` and a JSON string both give limits;
    ``idempotent: true`` is read too."""
    folder = write_skill('name: demo\ndescription: d\nmetadata: {"timeoutSec": 7}\n')
    assert load_skill(folder).skill.timeout_sec == 7  # type: ignore[union-attr]
    folder = write_skill('name: demo\ndescription: d\nmetadata: \'{"maxOutputKb": "9"}\'\n')
    assert load_skill(folder).skill.max_output_kb == 9  # type: ignore[union-attr]
    folder = write_skill("name: demo\ndescription: d\nmetadata: {idempotent: true}\n")
    assert load_skill(folder).skill.idempotent  # type: ignore[union-attr]


def test_skill_is_immutable() -> None:
    """Neither the skill nor the schemas it hands out can change the loaded skill."""
    skill = _load("nexflow-full")
    with pytest.raises(AttributeError):
        skill.name = "x"  # type: ignore[misc]
    schema = skill.input_schema
    assert schema is not None
    schema["type"] = "string"
    assert skill.input_schema is not None and skill.input_schema["type"] == "object"


@pytest.mark.parametrize("name", sorted(p.name for p in VALID.iterdir()))
def test_views_are_json(name: str) -> None:
    """``to_summary``/``to_detail`` are JSON-serialisable and expose no host path."""
    skill = _load(name)
    detail = json.loads(json.dumps(skill.to_detail()))
    summary = json.loads(json.dumps(skill.to_summary()))
    assert summary["name"] == detail["name"] == name
    assert summary["digest"].startswith("sha256:")
    assert str(VALID) not in json.dumps(detail)


def test_json5_block_keeps_later_lines(write_skill: WriteSkill) -> None:
    """After a rewritten JSON5 block, diagnostics still name the right line."""
    frontmatter = (
        "name: demo\n"
        "description: d\n"
        "metadata:\n"
        "  openclaw: {\n"
        "    requires: {bins: ['jq',],},  // needs jq\n"
        "    /* block\n"
        "       comment */\n"
        "  }\n"
        "version: nope\n"
    )
    result = load_skill(write_skill(frontmatter))
    assert [(d.code.value, d.line, d.field) for d in result.diagnostics] == [
        ("bad_version", 10, "version")
    ]
