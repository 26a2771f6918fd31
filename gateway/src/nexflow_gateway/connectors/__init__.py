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
from .runner import ConnectorSet, OnItem, run_connectors

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Button",
    "Channel",
    "Connector",
    "ConnectorError",
    "ConnectorSet",
    "Decision",
    "Event",
    "OnItem",
    "Press",
    "Reply",
    "run_connectors",
]
