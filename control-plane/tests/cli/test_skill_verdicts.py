"""`nexflow skill test` compares outputs as JSON, not as Python values."""

from __future__ import annotations

import pytest
from nexflow_control.cli._skill_verdicts import same_json


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, True),
        (1, 1.0, True),
        (True, 1, False),
        ({"ok": False}, {"ok": 0}, False),
        ([1, 2], [2, 1], False),
        ({"a": None}, {}, False),
        ("1", 1, False),
        ([True], [True], True),
    ],
)
def test_json_equality(a: object, b: object, same: bool) -> None:
    """`true` is not `1`, numbers compare by value, key order never matters."""
    assert same_json(a, b) is same
    assert same_json(b, a) is same
