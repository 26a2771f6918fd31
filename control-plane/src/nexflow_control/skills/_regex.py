"""Regular expressions from skill schemas, run by RE2: linear time, no backtracking.

A JSON Schema ``pattern`` is written by whoever wrote the skill and matched against
whatever a caller sends. Python's ``re`` backtracks, so ``(a+)+$`` against a few dozen
``a`` stalls the process for seconds. RE2 matches in time linear in the input and
refuses the constructs that need backtracking (back-references, look-around): such a
pattern is refused when the skill loads, never at call time.
"""

from __future__ import annotations

from functools import lru_cache

import re2

MAX_PATTERN_CHARS = 4096
_MAX_MEM = 8 << 20  # bytes of RE2 program memory per pattern

__all__ = ["MAX_PATTERN_CHARS", "PatternError", "compile_pattern", "pattern_problem", "search"]


class PatternError(ValueError):
    """The pattern is too long or not one RE2 can run."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the diagnostic says it; no line on stderr per bad pattern
    options.max_mem = _MAX_MEM
    return options


_OPTIONS = _options()


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled pattern; PatternError when RE2 cannot run it."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"pattern is longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise PatternError(f"RE2 cannot run this pattern: {text[:160]}") from None


def pattern_problem(pattern: str) -> str | None:
    """Why RE2 refuses ``pattern``, or None when it compiles."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (JSON Schema semantics: unanchored)."""
    return compile_pattern(pattern).search(text) is not None
