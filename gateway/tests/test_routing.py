"""Model routing rules and the persona files."""

from __future__ import annotations

from pathlib import Path

from nexflow_gateway.llm.persona import read_persona
from nexflow_gateway.llm.routing import route
from nexflow_gateway.settings import LLMSettings, RoutingSettings


def _settings(**routing: object) -> LLMSettings:
    return LLMSettings(
        model="cheap", strong_model="strong", routing=RoutingSettings.model_validate(routing)
    )


def test_cheap_model_by_default() -> None:
    """A short message with few tools goes to the default model, untouched."""
    chosen = route(_settings(), "hello", 3)
    assert (chosen.model, chosen.rule, chosen.message) == ("cheap", None, "hello")


def test_strong_command_is_taken_off() -> None:
    """`/strong ...` goes to the strong model and the model sees the rest of the message."""
    chosen = route(_settings(), "/strong  plan the release", 3)
    assert (chosen.model, chosen.rule, chosen.message) == ("strong", "command", "plan the release")
    assert route(_settings(), "/strongest", 3).model == "cheap", "a longer word is no command"


def test_tool_count_and_length_rules() -> None:
    """More tools than the bound, or a long message, picks the strong model."""
    assert route(_settings(tools_over=5), "hi", 6).rule == "tools_over"
    assert route(_settings(tools_over=5), "hi", 5).rule is None
    assert route(_settings(message_over_chars=10), "x" * 11, 0).rule == "message_over_chars"


def test_without_a_strong_model_every_turn_is_cheap() -> None:
    """No strong model configured: rules fire but the default model answers."""
    chosen = route(LLMSettings(model="cheap"), "/strong go", 99)
    assert (chosen.model, chosen.message) == ("cheap", "go")


def test_persona_files_are_bounded_context(tmp_path: Path) -> None:
    """Both files are read, each cut to the bound; missing or binary files are fine."""
    assert read_persona(tmp_path, 100) == ""
    (tmp_path / "USER.md").write_text("I am Ann, I run CI.")
    (tmp_path / "WORKSPACE.md").write_bytes(b"\xff\xfe" + b"w" * 500)
    text = read_persona(tmp_path, 100)
    assert "<USER.md>\nI am Ann, I run CI.\n</USER.md>" in text
    assert "w" * 100 not in text and "…[cut]" in text
    assert "context, not tool output" in text
