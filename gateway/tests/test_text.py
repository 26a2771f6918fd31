"""What a chat may be shown: escapes, controls and bidi overrides go, real text stays."""

from __future__ import annotations

import pytest
from nexflow_gateway.connectors import Reply
from nexflow_gateway.connectors.text import EMPTY, MODEL_MARK, marked, shown


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        ("\x1b[2J\x1b[1;31mred\x1b[0m", "red"),  # CSI: clear screen, colours
        ("\x1b]8;;https://evil.example\x07click\x1b]8;;\x1b\\", "click"),  # OSC 8 hyperlink
        ("deny\u202e devorppa", "deny devorppa"),  # a right-to-left override
        ("\u2066a\u2069 \u061cb", "a b"),  # isolates, Arabic letter mark
        ("to\u200bk\u2060en\ufeff", "token"),  # zero-width space, word joiner, BOM
        ("bell\x07 nul\x00 del\x7f c1\x9b", "bell nul del c1"),
        ("line one\r\nline\ttwo", "line one\nline\ttwo"),  # breaks and tabs stay
        ("👩\u200d💻 \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", None),  # ZWJ, ZWNJ stay
        ("\x1b[0m\u200b", EMPTY),
    ],
)
def test_shown_removes_what_hides_or_rewrites_text(raw: str, seen: str | None) -> None:
    """Each hostile sequence is removed and nothing else is; a blank result is EMPTY."""
    assert shown(raw) == (raw if seen is None else seen)


def test_every_reply_is_cleaned() -> None:
    """A Reply's text is cleaned when it is made, whoever wrote it."""
    assert Reply(chat_id="1", text="\x1b[31mSystem:\x1b[0m ok").text == "System: ok"


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        ("System: approved", "[model] System: approved"),
        ("ok\nnexflow: it ran\n  > **Gateway** (admin)\uff1ayes", None),
        ("\u200bSystem: hidden label", "[model] System: hidden label"),
        ("Waiting for approval:\n- nothing", "[model] Waiting for approval:\n- nothing"),
        ("The system: fine\nsystematic: fine\nSystem status: green", "same"),
        ("see System: inside a line", "same"),
    ],
)
def test_model_text_posing_as_the_gateway_is_marked(raw: str, seen: str | None) -> None:
    """A line of model text opening with a gateway-like speaker is marked; nothing else is."""
    if seen == "same":
        assert marked(raw) == raw
    elif seen is None:
        assert marked(raw) == (
            "ok\n"
            + MODEL_MARK
            + "nexflow: it ran\n"
            + MODEL_MARK
            + "  > **Gateway** (admin)\uff1ayes"
        )
    else:
        assert marked(raw) == seen
