"""Plain values only: what a parsed SKILL.md value may hold.

YAML and JSON5 both let a file spell values that the rest of the control plane cannot
carry: ``.inf``/``NaN`` (no JSON form: the API would fail to answer), integers of
thousands of digits, lone UTF-16 surrogates (``"\\ud800"``: no UTF-8 form) and control
characters written as escapes (``"\\x1b[2J"`` in a description clears a terminal).
`scalar_problem` names what is wrong with one scalar, `value_problem` walks a whole
parsed value (iteratively: depth is bounded by the parsers, not by Python's stack).
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_INT = 2**64
"""Integers beyond ±2**64 are refused: no limit, size or schema bound needs more."""

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters other than tab and newline (C0, DEL, C1)."""


def text_problem(text: str) -> str | None:
    """Why a string is not plain text, or None."""
    found = CONTROL.search(text)
    if found is not None:
        return f"control character U+{ord(found.group()):04X} is not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone UTF-16 surrogate is not allowed"
    return None


def scalar_problem(value: Any) -> str | None:
    """Why a scalar cannot be carried as plain JSON, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if -MAX_INT <= value <= MAX_INT else "integer beyond ±2**64"
    if isinstance(value, float):
        return None if math.isfinite(value) else "NaN and Infinity are not allowed"
    if isinstance(value, str):
        return text_problem(value)
    return f"{type(value).__name__} is not a plain value"


def value_problem(value: Any) -> str | None:
    """The first problem anywhere in a parsed value (keys included), or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if (problem := scalar_problem(key)) is not None:
                    return problem
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
        elif (problem := scalar_problem(item)) is not None:
            return problem
    return None
