"""The connector event: a chat message is hostile input, every field is bounded."""

from __future__ import annotations

from typing import Any

import pytest
from nexflow_gateway.connectors import MAX_MESSAGE_CHARS, Event, Press
from pydantic import ValidationError

GOOD: dict[str, Any] = {
    "id": "u1",
    "channel": "telegram",
    "user_id": "42",
    "chat_id": "-100",
    "message": "hi",
}


def test_a_good_event_keeps_its_fields() -> None:
    """A well-formed event is accepted and stamped with a UTC time."""
    event = Event.model_validate(GOOD | {"metadata": {"chat_type": "group"}})
    assert event.message == "hi" and event.chat_id == "-100"
    assert event.metadata == {"chat_type": "group"}
    assert event.timestamp.utcoffset() is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "message"),
        ({"message": ""}, "message"),
        ({"channel": "irc"}, "channel"),
        ({"user_id": "a\nb"}, "user_id"),
        ({"user_id": "x" * 129}, "user_id"),
        ({"id": ""}, "id"),
        ({"chat_id": "1 OR 1"}, "chat_id"),
        ({"metadata": {f"k{i}": "v" for i in range(33)}}, "metadata"),
        ({"metadata": {"k": "v" * 1025}}, "metadata"),
        ({"metadata": {"bad key": "v"}}, "metadata"),
        ({"extra": 1}, "extra"),
    ],
)
def test_hostile_events_are_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    """Oversized, empty, unknown or malformed fields fail validation at the edge."""
    with pytest.raises(ValidationError) as caught:
        Event.model_validate(GOOD | change)
    assert caught.value.errors()[0]["loc"][0] == field


PRESS: dict[str, Any] = {
    "id": "cb1",
    "channel": "telegram",
    "user_id": "42",
    "chat_id": "42",
    "approval_id": "apr_1",
    "decision": "approve",
    "nonce": "n" * 22,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"decision": "approve_all"}, "decision"),
        ({"nonce": "short"}, "nonce"),
        ({"nonce": "n" * 21 + "/"}, "nonce"),
        ({"approval_id": ""}, "approval_id"),
    ],
)
def test_a_press_is_bound_to_one_approval_and_a_wellformed_nonce(
    change: dict[str, Any], field: str
) -> None:
    """A button press names its approval, one of two decisions and a one-time nonce."""
    assert Press.model_validate(PRESS).decision == "approve"
    with pytest.raises(ValidationError) as caught:
        Press.model_validate(PRESS | change)
    assert caught.value.errors()[0]["loc"][0] == field
