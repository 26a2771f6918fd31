"""Counted drops: every update a connector refuses is counted by reason and logged once
(the reason, the channel and the update's id; never its text)."""

from __future__ import annotations

from collections import Counter

import structlog

log = structlog.get_logger("nexflow_gateway.connectors")

# Reasons that are ordinary traffic (a group chat talking among itself), logged at debug.
_QUIET = frozenset({"not_addressed"})


class Drops:
    """How many updates a connector dropped, by reason."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.counts: Counter[str] = Counter()

    def drop(self, reason: str, update_id: object = None) -> None:
        self.counts[reason] += 1
        emit = log.debug if reason in _QUIET else log.info
        emit("connector.dropped", channel=self.channel, reason=reason, update=str(update_id))

    @property
    def total(self) -> int:
        return sum(self.counts.values())
