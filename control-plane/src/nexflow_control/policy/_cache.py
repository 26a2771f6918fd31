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
know, never makes one call's answer leak into another's. Everything else is part of the
key; rate counts are, too, except as follows.

Rate counts (``context.rate``) rise with every call, so an input holding them would never
repeat. A policy that offers ``data.nexflow.authz.decision_and_rate_caps`` (the shipped one
does) says, with each decision, the cap each count is held to (``rate_caps``); while every
count is below its cap the decision is the same whatever the counts (the policy reads them
nowhere else: a test parses the Rego and fails if another rule does). Such a decision is
kept under a second key, the digest of the seen input with the counts left out (their
names kept), together with the caps, and a later call finds it only when its own counts
are all below those caps; at or above a cap, or with counts that are not plain counts,
the exact input is the key as before. Everything else, rate counts of a limited call
included, is part of the key.

The cache is a bounded LRU keyed by (policy revision, digest); engines clear it on every
reload, and the revision in the key keeps an evaluation that raced a reload from being
found under the new policy.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._decision import Decision
from ._input import MAX_SAFE_INTEGER, encode_input

HIDDEN_PLACEHOLDER = "-"
RATE_CAPS_ENTRYPOINT = "nexflow/authz/decision_and_rate_caps"
"""The optional rule that answers ``{"decision", "rate_caps"}`` in one evaluation."""
_RATE_FREE = b"rate-free\0"  # the second key's own domain: it never equals an exact key
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
        prepared = self.prepare(input)
        return None if prepared is None else (prepared.text, prepared.digest)

    def prepare(self, input: Any) -> Prepared | None:
        """Everything a lookup needs of ``input``, or None when it is malformed. With plain
        rate counts only the rate-free text is encoded now (all a hit needs); the exact
        text follows on a miss."""
        if not isinstance(input, dict):
            return None
        seen = self.apply(input)
        rate = _plain_counts(seen)
        if rate is None:
            text = encode_input(seen, sort_keys=True)
            return None if text is None else Prepared(seen, None, None, text)
        # The counts' names stay in the key: only their values may differ under one entry.
        # Plain counts are plain JSON, so this encodes exactly when the whole input does.
        free = encode_input(
            {**seen, "context": {**seen["context"], "rate": sorted(rate)}}, sort_keys=True
        )
        if free is None:
            return None
        return Prepared(seen, rate, hashlib.sha256(_RATE_FREE + free.encode("utf-8")).digest())


def _plain_counts(seen: dict[str, Any]) -> dict[str, int] | None:
    """``context.rate`` when it is an object of plain counts (ints, 0 up to the safe
    integer limit), else None: only plain counts may share a rate-free entry."""
    context = seen.get("context")
    rate = context.get("rate") if isinstance(context, dict) else None
    if not isinstance(rate, dict) or not rate:
        return None
    for value in rate.values():
        if type(value) is not int or not 0 <= value <= MAX_SAFE_INTEGER:
            return None
    return rate


class Prepared:
    """One input ready for a lookup: what the policy sees, its text and its keys."""

    __slots__ = ("_digest", "_text", "rate", "rate_free", "seen")

    def __init__(
        self,
        seen: dict[str, Any],
        rate: dict[str, int] | None,
        rate_free: bytes | None,
        text: str | None = None,
    ) -> None:
        self.seen = seen
        """The input as the policy sees it (hidden fields replaced)."""
        self.rate = rate
        """The plain rate counts, when the input has them."""
        self.rate_free = rate_free
        """The key without the counts' values (only with ``rate``)."""
        self._text = text
        self._digest: bytes | None = None

    @property
    def text(self) -> str:
        """The canonical JSON text of ``seen``: what the engine evaluates."""
        if self._text is None:
            # Valid: the rate-free form of this input encoded, and plain counts are JSON.
            self._text = json.dumps(self.seen, allow_nan=False, ensure_ascii=False, sort_keys=True)
        return self._text

    @property
    def digest(self) -> bytes:
        """The exact key: the digest of ``text``."""
        if self._digest is None:
            self._digest = hashlib.sha256(self.text.encode("utf-8")).digest()
        return self._digest


RateCaps = tuple[tuple[str, float | None], ...]
"""(counter, cap or None for no cap), sorted by counter."""


def parse_rate_caps(value: Any) -> RateCaps | None:
    """The policy's ``rate_caps`` object, or None when it is not {name: number|null}."""
    if not isinstance(value, dict) or not value:
        return None
    caps: list[tuple[str, float | None]] = []
    for name, cap in sorted(value.items()):
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int | float)):
            return None
        caps.append((name, cap))
    return tuple(caps)


def below_caps(rate: Mapping[str, int], caps: RateCaps) -> bool:
    """Whether ``rate`` has exactly the capped counters and every count is below its cap."""
    if len(rate) != len(caps):
        return False
    for name, cap in caps:
        used = rate.get(name)
        if used is None or (cap is not None and not used < cap):
            return False
    return True


@dataclass(frozen=True, slots=True)
class _CapsEntry:
    """A decision that holds for every count below ``caps``."""

    decision: Decision
    caps: RateCaps


class DecisionCache:
    """A bounded LRU of decisions keyed by (revision, input digest); 0 entries disables it."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        """Keep at most ``max_entries`` decisions (0: cache nothing)."""
        if max_entries < 0:
            raise ValueError("the decision cache size cannot be negative")
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, bytes], Decision | _CapsEntry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_entries(self) -> int:
        """The bound on the number of decisions kept."""
        return self._max

    def _take(self, key: tuple[str, bytes]) -> Decision | _CapsEntry | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def get(self, revision: str, digest: bytes) -> Decision | None:
        """The decision cached under an exact key, or None (counted as a miss)."""
        found = self._take((revision, digest))
        if not isinstance(found, Decision):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def find(self, revision: str, prepared: Prepared) -> Decision | None:
        """The decision for ``prepared``: under its rate-free key when its counts are below
        the caps kept there, else under its exact key; None (one miss) when neither."""
        if prepared.rate is not None and prepared.rate_free is not None:
            entry = self._take((revision, prepared.rate_free))
            if isinstance(entry, _CapsEntry) and below_caps(prepared.rate, entry.caps):
                self.hits += 1
                return entry.decision
        return self.get(revision, prepared.digest)

    def put(self, revision: str, digest: bytes, decision: Decision) -> None:
        """Remember ``decision`` under an exact key."""
        self._store(revision, digest, decision, decision)

    def keep(
        self, revision: str, prepared: Prepared, decision: Decision, caps: RateCaps | None
    ) -> None:
        """Remember the decision evaluated for ``prepared``: for every count below ``caps``
        when its own counts are, else for its exact input only."""
        rate, free = prepared.rate, prepared.rate_free
        if caps is not None and rate is not None and free is not None and below_caps(rate, caps):
            self._store(revision, free, decision, _CapsEntry(decision, caps))
        else:
            self.put(revision, prepared.digest, decision)

    def _store(
        self, revision: str, digest: bytes, decision: Decision, entry: Decision | _CapsEntry
    ) -> None:
        """Store ``entry``; drop the least recently used one beyond the bound."""
        if self._max == 0 or decision.revision != revision:
            return
        self._entries[(revision, digest)] = entry
        self._entries.move_to_end((revision, digest))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every decision (on every policy or data reload)."""
        self._entries.clear()
