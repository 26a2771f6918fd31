"""Decisions cached by the exact input the policy sees, per engine and policy revision.

Sound by construction rather than by analysis of the Rego: the key is a digest of the
canonical JSON text the engine evaluates, and the engine evaluates *that* text (or, for
the OPA server, the same value), so two calls with one key get one answer by definition.

What makes a hit possible at all is ``data.nexflow.config.policy_input.hidden``: dotted
input paths (``call.id``, ``context.time``, ...) that the policy declares it does not
need. Before any evaluation, cached or not and on both engines, a hidden field holding a
non-empty string becomes ``"-"`` (so "is a non-empty string" still holds) and any other
value stays as it is (so shape checks still see it). A rule that does read a hidden field
sees ``"-"`` everywhere, never a stale value: hiding a field changes what the policy can
know, never makes one call's answer leak into another's. Everything else, rate counts
included, is part of the key.

The cache is a bounded LRU keyed by (policy revision, digest); engines clear it on every
reload, and the revision in the key keeps an evaluation that raced a reload from being
found under the new policy.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._decision import Decision
from ._input import encode_input

HIDDEN_PLACEHOLDER = "-"
DEFAULT_CACHE_SIZE = 4096
"""Decisions kept per engine; an entry is a digest and a small frozen Decision."""


def _hidden_paths(data: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    """The hidden input paths the policy data declares, or none when it declares none."""
    config = data.get("nexflow", {}).get("config", {}) if isinstance(data, dict) else {}
    section = config.get("policy_input", {}) if isinstance(config, dict) else {}
    hidden = section.get("hidden", []) if isinstance(section, dict) else []
    if not isinstance(hidden, list):
        return ()
    return tuple(tuple(p.split(".")) for p in hidden if isinstance(p, str) and p)


def _hide(value: Any, path: tuple[str, ...]) -> Any:
    """``value`` with the field at ``path`` replaced; containers on the way are copied,
    never changed in place (the caller's input is audited as it was)."""
    if not isinstance(value, dict) or path[0] not in value:
        return value
    head, rest = path[0], path[1:]
    inner = value[head]
    if rest:
        replaced = _hide(inner, rest)
    else:
        replaced = HIDDEN_PLACEHOLDER if isinstance(inner, str) and inner else inner
    if replaced is inner:
        return value
    return {**value, head: replaced}


@dataclass(frozen=True, slots=True)
class InputView:
    """What the policy of one revision sees of an input: the input minus its hidden fields."""

    hidden: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> InputView:
        """The view ``data.nexflow.config.policy_input.hidden`` declares."""
        return cls(_hidden_paths(data))

    def apply(self, input: dict[str, Any]) -> dict[str, Any]:
        """The input as the policy sees it (a copy where anything was hidden)."""
        for path in self.hidden:
            input = _hide(input, path)
        return input

    def encode(self, input: Any) -> tuple[str, bytes] | None:
        """(canonical JSON text of the seen input, its digest), or None when the input is
        malformed (see ``encode_input``)."""
        if not isinstance(input, dict):
            return None
        text = encode_input(self.apply(input), sort_keys=True)
        if text is None:
            return None
        return text, hashlib.sha256(text.encode("utf-8")).digest()


class DecisionCache:
    """A bounded LRU of decisions keyed by (revision, input digest); 0 entries disables it."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        """Keep at most ``max_entries`` decisions (0: cache nothing)."""
        if max_entries < 0:
            raise ValueError("the decision cache size cannot be negative")
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, bytes], Decision] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_entries(self) -> int:
        """The bound on the number of decisions kept."""
        return self._max

    def get(self, revision: str, digest: bytes) -> Decision | None:
        """The cached decision, or None (counted as a miss)."""
        found = self._entries.get((revision, digest))
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end((revision, digest))
        self.hits += 1
        return found

    def put(self, revision: str, digest: bytes, decision: Decision) -> None:
        """Remember ``decision``; drop the least recently used entry beyond the bound."""
        if self._max == 0 or decision.revision != revision:
            return
        self._entries[(revision, digest)] = decision
        self._entries.move_to_end((revision, digest))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every decision (on every policy or data reload)."""
        self._entries.clear()
