"""Model routing: the default (cheap) model, or the strong one when a rule fires.

Rules (settings `NEXFLOW_LLM__ROUTING__*`): more tools offered than `tools_over`, a
message longer than `message_over_chars`, or a message starting with the `command`
(`/strong`, taken off before the model sees the message). Without `strong_model` every
turn goes to `model`. The chosen model and the rule are recorded with the turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import LLMSettings


@dataclass(frozen=True)
class Route:
    model: str
    rule: str | None
    message: str


def route(settings: LLMSettings, message: str, tool_count: int) -> Route:
    """Which model answers `message` and why; the message as the model will see it."""
    rules = settings.routing
    cheap = settings.model or ""
    command = message.startswith(rules.command) and (
        len(message) == len(rules.command) or message[len(rules.command)].isspace()
    )
    text = message[len(rules.command) :].strip() or message if command else message
    if command:
        rule: str | None = "command"
    elif rules.tools_over is not None and tool_count > rules.tools_over:
        rule = "tools_over"
    elif rules.message_over_chars is not None and len(message) > rules.message_over_chars:
        rule = "message_over_chars"
    else:
        rule = None
    if rule is None or not settings.strong_model:
        return Route(cheap, None, text)
    return Route(settings.strong_model, rule, text)
