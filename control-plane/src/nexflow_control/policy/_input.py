"""The policy input as JSON text: one encoding every engine shares.

An input that is not a JSON object of plain values (a list, NaN, a lone UTF-16
surrogate, a cycle) is refused here, before any engine sees it, so that every engine
answers it with the same ``malformed_input`` deny. So is a number outside the
interoperable JSON range ±(2**53 - 1) (RFC 7493, I-JSON): beyond it OPA and rego-cpp
disagree (OPA's ``floor`` of 1e30 is undefined, rego-cpp's is not), and no limit,
count or size the control plane sends comes near it.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest magnitude a number in a policy input may have."""

# Only a number token of 16+ digits or with an exponent can exceed the range. The exact
# walk runs only when the encoded text has one where json.dumps starts a value (after
# '": ', '[' or ', '); a string that merely looks like one costs a walk, never a wrong
# answer ("sha256:0000…" does not: its colon is not followed by a space).
_MAYBE_LARGE = re.compile(r'(?:": |\[|, )-?(?:\d{16}|\d+(?:\.\d+)?[eE])')


def _numbers_in_range(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and abs(item) > MAX_SAFE_INTEGER
        ):
            return False
    return True


def encode_input(value: Any, *, sort_keys: bool = False) -> str | None:
    """The input as JSON text (keys sorted: canonical), or None when it is not a JSON
    object of plain values."""
    if not isinstance(value, dict):
        return None
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, sort_keys=sort_keys)
        text.encode("utf-8")  # a lone surrogate ("\ud800") has no UTF-8 form
    except (TypeError, ValueError, RecursionError):
        return None
    if _MAYBE_LARGE.search(text) and not _numbers_in_range(value):
        return None
    return text
