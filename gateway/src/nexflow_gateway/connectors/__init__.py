"""Chat channels behind one interface (`Connector`) producing `Event`s."""

from .base import MAX_MESSAGE_CHARS, Channel, Connector, Event

__all__ = ["MAX_MESSAGE_CHARS", "Channel", "Connector", "Event"]
