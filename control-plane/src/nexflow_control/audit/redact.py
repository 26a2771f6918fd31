"""Redaction and size caps for audit payloads: applied before anything is stored.

`redact(value)` returns a JSON-able copy of `value` in which

* values under keys that look secret (password, passwd, passphrase, secret, token,
  api_key/apikey, authorization, cookie, private_key, credential, session; any case,
  ``-`` or ``_``, at any depth) are ``"[REDACTED]"``;
* credential-looking text anywhere, keys included (``Bearer …``, ``Basic …``, ``sk-…``,
  ``sk_live_…``, GitHub ``ghp_…``/``github_pat_…``, Slack ``xox?-…``, AWS ``AKIA…``,
  PEM private key blocks, JWTs, ``user:pass@`` in URLs, ``password=…`` style pairs) is
  replaced by ``[REDACTED]``; a Nexflow API token ``nxf_<id>_<secret>`` keeps its
  public ``nxf_<id>_`` (which token it was) and loses the secret;
* values JSON cannot hold are turned into strings (ISO dates, ``repr`` for the rest); it
  never raises;
* the canonical JSON is at most `max_bytes` (64 KiB by default): long strings are cut
  with a ``…[truncated N bytes]`` marker (N = UTF-8 bytes dropped), ever shorter until
  it fits; huge containers keep their first items.

Key matching is by substring on purpose (``max_tokens`` is redacted too): losing a
harmless number costs less than storing a credential.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

from nexflow_common.secrets import REDACTED, is_secret_key, scrub_text

from .chain import canonical_text

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 10_000  # per container
MAX_NODES = 100_000  # per payload
HARD_STRING_CHARS = 1 << 20  # strings are cut to this before they are scanned
MIN_STRING_CUT = 128


def cut_text(text: str, max_bytes: int, dropped: int = 0) -> str:
    """`text` cut to `max_bytes` UTF-8 bytes (on a character boundary) plus a marker."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes and not dropped:
        return text
    kept = data[:max_bytes].decode("utf-8", "ignore")
    lost = len(data) - len(kept.encode("utf-8")) + dropped
    return f"{kept}…[truncated {lost} bytes]"


def redact(value: Any, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Any:
    """A redacted, JSON-able, size-capped copy of `value` (see the module docstring)."""
    return redact_encoded(value, max_bytes=max_bytes)[0]


def redact_encoded(value: Any, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> tuple[Any, str]:
    """`redact(value)` and its canonical JSON text: the size check needs the text
    anyway, and the append path stores and hashes exactly this text (one encode)."""
    cleaner = _Cleaner()
    tree = cleaner.clean(value, 0)
    if not cleaner.long_strings:
        text = canonical_text(tree)
        if _fits(text, max_bytes):
            return tree, text  # the common case: nothing to cut
    limit = max_bytes
    while True:
        try:
            capped = _cap(tree, limit, [max_bytes])
        except _TooBig:
            capped = None
        if capped is not None:
            text = canonical_text(capped)
            if _fits(text, max_bytes):
                return capped, text
        if limit <= MIN_STRING_CUT:
            break
        limit = max(MIN_STRING_CUT, limit // 4)
    preview = canonical_text(_cap(tree, MIN_STRING_CUT, None))
    stub = {
        "_truncated": "payload too large for the audit log",
        "preview": cut_text(preview, max(0, max_bytes // 2 - 64)),
    }
    return stub, canonical_text(stub)


def _fits(text: str, max_bytes: int) -> bool:
    """`len(text.encode("utf-8")) <= max_bytes`, without encoding short ASCII texts."""
    if len(text) <= max_bytes and text.isascii():
        return True
    return len(text.encode("utf-8")) <= max_bytes


@dataclass(frozen=True, slots=True)
class _Long:
    """A string already cut to `HARD_STRING_CHARS`; `dropped` bytes are gone."""

    text: str
    dropped: int


class _TooBig(Exception):
    pass


def _text(value: str) -> str | _Long:
    value = str.__str__(value)
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    if len(value) <= HARD_STRING_CHARS:
        return scrub_text(value)
    head = value[:HARD_STRING_CHARS]
    space = max(head.rfind(" ", -4096), head.rfind("\n", -4096))
    if space > 0:
        head = head[:space]  # never keep half a token
    dropped = len(value.encode("utf-8")) - len(head.encode("utf-8"))
    return _Long(scrub_text(head), dropped)


class _Cleaner:
    """Redacts and makes JSON-able; counts nodes so no input can make it work forever."""

    def __init__(self) -> None:
        self.nodes = 0
        self.long_strings = False

    def clean(self, value: Any, depth: int) -> Any:
        self.nodes += 1
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = _text(value)
            self.long_strings |= isinstance(text, _Long)
            return text
        if isinstance(value, int):
            if value.bit_length() > 256:
                return f"<int of {value.bit_length()} bits>"
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else repr(float(value))
        if isinstance(value, Mapping | list | tuple | set | frozenset):
            if depth >= MAX_DEPTH:
                return "[too deep]"
            if isinstance(value, Mapping):
                return self._mapping(value, depth)
            return self._sequence(value, depth)
        text = _text(_describe(value))
        self.long_strings |= isinstance(text, _Long)
        return text

    def _room(self, size: int) -> int:
        return max(0, min(size, MAX_ITEMS, MAX_NODES - self.nodes))

    def _mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        room = self._room(len(value))
        for i, (key, item) in enumerate(value.items()):
            if i >= room:
                out["…"] = f"[{len(value) - room} more keys]"
                break
            name = _key(key)
            while name in out:
                name += "'"
            out[name] = REDACTED if is_secret_key(name) else self.clean(item, depth + 1)
        return out

    def _sequence(self, value: Any, depth: int) -> list[Any]:
        items = list(value)
        room = self._room(len(items))
        out = [self.clean(item, depth + 1) for item in items[:room]]
        if room < len(items):
            out.append(f"…[{len(items) - room} more items]")
        return out


def _key(key: Any) -> str:
    if isinstance(key, str):
        text = _text(key)
    elif key is None or isinstance(key, bool | int | float):
        text = _text(str(key))
    else:
        text = _text(_describe(key))
    if isinstance(text, _Long):
        text = text.text
    return cut_text(text, 256)


def _describe(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID | Decimal | PurePath):
        return str(value)
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _cap(tree: Any, limit: int, budget: list[int] | None) -> Any:
    """Cut every string of a cleaned tree to `limit` bytes; `budget` bounds the total."""
    if isinstance(tree, str | _Long):
        text, dropped = (tree, 0) if isinstance(tree, str) else (tree.text, tree.dropped)
        out = cut_text(text, limit, dropped)
        if budget is not None:
            budget[0] -= len(out)
            if budget[0] < 0:
                raise _TooBig
        return out
    if isinstance(tree, dict):
        return {k: _cap(v, limit, budget) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_cap(v, limit, budget) for v in tree]
    return tree
