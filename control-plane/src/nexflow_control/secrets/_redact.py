"""Taking a call's own secrets out of its output before anything keeps or shows it.

`Redactor(values)` knows, for each secret value a call received, the forms a script is
likely to print it in: the exact text, its JSON-string escape, URL encodings
(``quote``/``quote_plus``), hex (both cases) and base64 (standard and URL-safe, with and
without padding, and the middle of the value's encoding at each of the three byte
offsets it can have inside a longer base64 text). `redact(text)` replaces every
occurrence with ``[REDACTED:<name>]``, and a trailing fragment of a form (output cut at
its cap mid-secret) with ``[REDACTED:<name>]`` too.

This is a net for mistakes, not a wall: a script that holds a secret can always print
it transformed some other way (reversed, split between stdout and stderr, encrypted).
What keeps a secret from a skill is the policy that decides which call gets it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

MIN_FORM = 4
"""Shorter forms are only redacted as the exact value (else every "ab" would go)."""
MIN_FRAGMENT = 6
"""A trailing fragment shorter than this is left alone."""


def _b64_cores(data: bytes, alphabet: bytes | None) -> set[str]:
    """The characters of `data`'s base64 that do not depend on the bytes around it, for
    each of the three alignments it can have inside a longer encoded text."""
    out: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data, altchars=alphabet).decode()
        start = -(-offset * 4 // 3)  # ceil
        end = (offset + len(data)) * 4 // 3  # floor
        out.add(encoded[start:end])
    return out


def forms(value: str) -> set[str]:
    """Every printed form of `value` this module redacts."""
    data = value.encode()
    found = {value, json.dumps(value)[1:-1], quote(value, safe=""), quote(value), quote_plus(value)}
    found |= {data.hex(), data.hex().upper()}
    for alphabet in (None, b"-_"):
        full = base64.b64encode(data, altchars=alphabet).decode()
        found |= {full, full.rstrip("=")}
        found |= _b64_cores(data, alphabet)
    return {f for f in found if f == value or len(f) >= MIN_FORM}


class Redactor:
    """See the module docstring; built per call from the values that call received."""

    def __init__(self, values: Mapping[str, str]) -> None:
        by_form: dict[str, str] = {}
        for name, value in sorted(values.items()):
            if value:
                for form in forms(value):
                    by_form.setdefault(form, name)
        self._names = by_form
        # Longest first: a form that contains another is replaced whole.
        self._ordered = sorted(by_form, key=lambda f: (-len(f), f))
        self._pattern = re.compile("|".join(map(re.escape, self._ordered))) if by_form else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        """`text` without any form of the secrets; unchanged when there are none."""
        if self._pattern is None:
            return text
        # Load-bearing for speed only: `in` scans in C, far faster than the alternation,
        # and most output holds no secret, so the regex runs only when a form is there.
        if any(form in text for form in self._ordered):
            text = self._pattern.sub(lambda m: f"[REDACTED:{self._names[m.group(0)]}]", text)
        return self._cut_fragment(text)

    def _cut_fragment(self, text: str) -> str:
        """`text` with the longest trailing start of a form (at least MIN_FRAGMENT
        characters, output cut mid-secret) replaced."""
        best, best_name = 0, ""
        for form, name in self._names.items():
            if len(form) <= max(best, MIN_FRAGMENT):
                continue
            head = form[:MIN_FRAGMENT]
            # Only a start within the last len(form) - 1 characters can be a cut form.
            at = text.find(head, max(0, len(text) - len(form) + 1))
            while at != -1:
                size = len(text) - at
                if size > best and form.startswith(text[at:]):
                    best, best_name = size, name
                    break
                at = text.find(head, at + 1)
        return f"{text[:-best]}[REDACTED:{best_name}]" if best else text
