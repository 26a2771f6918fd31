"""The edge's strict JSON decoder, by property: what it accepts round-trips through a
UTF-8 JSON encoder that refuses NaN, and whatever bytes it is given it either answers a
value or refuses with one of its stable codes — never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nexflow_control.api import decode
from nexflow_control.api.strict_json import INT_MAX, INT_MIN, MAX_DEPTH
from nexflow_control.errors import InvalidInput

CODES = {"invalid_json", "number_out_of_range", "invalid_string", "json_too_deep"}

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT_MIN, INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, UnicodeEncodeError):
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(_values)
def test_accepted_values_round_trip_and_encode(value: Any) -> None:
    """A value UTF-8 JSON can hold decodes to itself; one it cannot (a lone surrogate in
    hypothesis's text) is refused as invalid_string — never passed on."""
    raw = json.dumps(value).encode()  # ASCII escapes: surrogates arrive as \\udxxx
    if _encodable(value):
        assert decode(raw) == value
    else:
        with pytest.raises(InvalidInput) as refused:
            decode(raw)
        assert refused.value.code == "invalid_string"


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=200) | st.text(alphabet='[]{}",:0123456789.eE-+\\u NaIfity').map(str.encode)
)
def test_any_bytes_give_a_value_or_a_stable_code(raw: bytes) -> None:
    """Arbitrary bytes: a value that encodes as UTF-8 JSON, or InvalidInput with a stable code."""
    try:
        value = decode(raw)
    except InvalidInput as exc:
        assert exc.code in CODES
        return
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "json_too_deep"),
        (b'{"a": 9223372036854775808}', "number_out_of_range"),
        (b'{"a": -1e309}', "number_out_of_range"),
        (b'{"a": NaN}', "number_out_of_range"),
        (b'"\\ud800"', "invalid_string"),
        (b"\xff", "invalid_json"),
    ],
)
def test_each_refusal_has_its_code(raw: bytes, code: str) -> None:
    """Each class of hostile body is refused with its own stable code."""
    with pytest.raises(InvalidInput) as refused:
        decode(raw)
    assert refused.value.code == code
    assert decode(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
