"""Chat channels behind one interface (`Connector`) producing `Event`s and `Press`es."""

from .base import (
    MAX_MESSAGE_CHARS,
    Button,
    Channel,
    Connector,
    ConnectorError,
    Decision,
    Event,
    Press,
    Reply,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Button",
    "Channel",
    "Connector",
    "ConnectorError",
    "Decision",
    "Event",
    "Press",
    "Reply",
]
