"""Approval buttons as a channel's small opaque string (Telegram's 64-byte
`callback_data`, Discord's 100-character `custom_id`), and back.

The string is `nx:<a|d>:<nonce>:<approval id>` when that fits the channel's limit: it
survives a restart of the gateway. Otherwise it is `nh:<handle>`, a random handle kept in a
bounded table in memory (a press on an evicted or pre-restart handle is refused as
unknown). The string is no secret: a modified client can send any data, which is why a
press is only a claim, checked by the control plane against the nonce and the presser.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import NamedTuple

from .base import Button, Decision

_DECISIONS: dict[Decision, str] = {"approve": "a", "deny": "d"}
_LETTERS: dict[str, Decision] = {v: k for k, v in _DECISIONS.items()}


class Pressed(NamedTuple):
    """What a decoded button says: which approval, which way, with which nonce."""

    approval_id: str
    decision: Decision
    nonce: str


class ButtonCodec:
    """Encodes buttons into at most `max_bytes` (UTF-8) and decodes what comes back."""

    def __init__(self, max_bytes: int, capacity: int = 10_000) -> None:
        self._max = max_bytes
        self._capacity = capacity
        self._handles: OrderedDict[str, Pressed] = OrderedDict()

    def encode(self, button: Button) -> str:
        data = f"nx:{_DECISIONS[button.decision]}:{button.nonce}:{button.approval_id}"
        if len(data.encode()) <= self._max:
            return data
        handle = secrets.token_urlsafe(12)
        self._handles[handle] = Pressed(button.approval_id, button.decision, button.nonce)
        while len(self._handles) > self._capacity:
            self._handles.popitem(last=False)
        return f"nh:{handle}"

    def decode(self, data: str) -> Pressed | None:
        """The button `data` stands for, or None when it is not one of ours."""
        if data.startswith("nh:"):
            return self._handles.get(data[3:])
        parts = data.split(":", 3)
        if len(parts) != 4 or parts[0] != "nx" or parts[1] not in _LETTERS:
            return None
        _, letter, nonce, approval_id = parts
        return Pressed(approval_id, _LETTERS[letter], nonce)
