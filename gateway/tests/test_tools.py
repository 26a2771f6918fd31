"""Skills as tools: provider-safe names mapped back, and tool arguments read as data."""

from __future__ import annotations

import re

import pytest
from nexflow_gateway.control_plane import SkillInfo
from nexflow_gateway.llm import Toolbox, tool_name
from nexflow_gateway.llm.tools import BadToolCall, parse_arguments

PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_names_fit_the_provider_pattern_and_map_back() -> None:
    """Names outside the provider's alphabet are rewritten, kept unique and mapped back."""
    skills = [
        SkillInfo(name=n, executable=True)
        for n in ("echo", "my.skill", "my_skill", "ü" * 80, "a/b c", "my:skill")
    ]
    box = Toolbox.from_skills(skills)
    names = [s["function"]["name"] for s in box.specs]
    assert all(PROVIDER_NAME.match(n) for n in names), names
    assert len(set(names)) == len(names) == len(skills)
    assert sorted(box.skill_for.values()) == sorted(s.name for s in skills)
    assert box.skill_for["echo"] == "echo" and tool_name("file-read") == "file-read"


def test_schema_is_the_skills_input_schema() -> None:
    """A skill's input schema is the tool's parameters; none gives an empty object."""
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    box = Toolbox.from_skills(
        [SkillInfo(name="a", input_schema=schema), SkillInfo(name="b", input_schema=None)]
    )
    params = {s["function"]["name"]: s["function"]["parameters"] for s in box.specs}
    assert params == {"a": schema, "b": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{nope", "invalid_arguments"),
        ("[1]", "invalid_arguments"),
        ('"text"', "invalid_arguments"),
        (42, "invalid_arguments"),
        ("[" * 100_000 + "]" * 100_000, "arguments_too_large"),
        ('{"a": "' + "x" * 2000 + '"}', "arguments_too_large"),
    ],
)
def test_bad_arguments_are_refused(raw: object, code: str) -> None:
    """Arguments that are not a bounded JSON object are refused with a stable code."""
    with pytest.raises(BadToolCall) as caught:
        parse_arguments(raw, 1024)
    assert caught.value.code == code


def test_deep_arguments_do_not_crash() -> None:
    """Deeply nested arguments within the byte bound are refused, not a RecursionError."""
    raw = "[" * 5000 + "]" * 5000
    with pytest.raises(BadToolCall) as caught:
        parse_arguments(raw, 64 * 1024)
    assert caught.value.code == "invalid_arguments"


def test_good_arguments_pass() -> None:
    """A JSON object (or nothing) is passed on as it is."""
    assert parse_arguments('{"message": "hi"}', 1024) == {"message": "hi"}
    assert parse_arguments("", 1024) == {} and parse_arguments(None, 1024) == {}


def test_open_calls_get_an_answer() -> None:
    """A transcript cut mid-step answers each unanswered call, so the history stays valid."""
    from nexflow_gateway.llm.loop import _answer_open_calls

    calls = [{"id": i, "type": "function", "function": {"name": "echo"}} for i in ("a", "b")]
    transcript: list[dict[str, object]] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "a", "content": "{}"},
    ]
    _answer_open_calls(transcript)
    assert [m.get("tool_call_id") for m in transcript[2:]] == ["a", "b"]
    assert "not_run" in str(transcript[-1]["content"])
