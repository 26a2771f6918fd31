"""Splitting long replies: seams preferred, limits kept, nothing lost."""

from __future__ import annotations

import pytest
from nexflow_gateway.connectors.chunks import split_text, utf16_len


def test_paragraph_seam_preferred_over_line() -> None:
    """A paragraph break in the second half of the window is where the cut goes."""
    text = "a" * 30 + "\n\n" + "b" * 10 + "\n" + "c" * 30
    assert split_text(text, 50) == ["a" * 30, "b" * 10 + "\n" + "c" * 30]


def test_hard_cut_without_seams_and_nothing_lost() -> None:
    """A text without spaces is cut hard at the limit and rejoins to the original."""
    text = "x" * 105
    pieces = split_text(text, 50)
    assert [len(p) for p in pieces] == [50, 50, 5]
    assert "".join(pieces) == text


def test_utf16_limit_never_splits_a_surrogate_pair() -> None:
    """Counted in UTF-16 units (as Telegram counts), emoji are never cut in half."""
    text = "😀" * 30  # 2 UTF-16 units each
    pieces = split_text(text, 11, utf16_len)
    assert all(utf16_len(p) <= 11 for p in pieces)
    assert "".join(pieces) == text
    assert all(p.encode("utf-16-le").decode("utf-16-le") == p for p in pieces)


def test_blank_text_gives_no_piece_and_tiny_limit_refused() -> None:
    """Whitespace only yields nothing to send; a limit under 2 is a programming error."""
    assert split_text(" \n\n ", 10) == []
    with pytest.raises(ValueError):
        split_text("abc", 1)
