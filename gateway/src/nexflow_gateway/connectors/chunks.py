"""Splitting a long reply into messages a channel accepts, at the most natural seam.

A chunk ends at a paragraph break if one lies in the second half of the window, else at a
line break, else at a space, else it is cut hard (never inside a surrogate pair: the text
is measured in whatever unit the channel counts, UTF-16 code units for Telegram).
"""

from __future__ import annotations

from collections.abc import Callable

_SEAMS = ("\n\n", "\n", " ")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (what Telegram's message limit counts)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """`text` as consecutive pieces of at most `limit` units each, none of them blank.
    Whitespace at a seam is dropped; nothing else is."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if measure(rest) <= limit:
            pieces.append(rest)
            break
        window = _fit(rest, limit, measure)
        cut = _seam(window)
        piece = window[:cut].rstrip() if cut else window
        pieces.append(piece)
        rest = rest[len(piece) :].lstrip()
    return [p for p in pieces if p]


def _fit(text: str, limit: int, measure: Callable[[str], int]) -> str:
    """The longest prefix of `text` that measures at most `limit` (binary search)."""
    lo, hi = 1, min(len(text), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _seam(window: str) -> int:
    """Where to cut `window`: after the last seam in its second half, 0 for a hard cut."""
    for seam in _SEAMS:
        at = window.rfind(seam)
        if at >= len(window) // 2:
            return at
    return 0
