"""The per-call redaction of secret values from a call's output."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from nexflow_control.secrets import Redactor

VALUE = "s3cr:et/V@lue+é"
MARK = "[REDACTED:tok]"


@pytest.mark.parametrize(
    "printed",
    [
        VALUE,
        json.dumps({"v": VALUE}),
        quote(VALUE, safe=""),
        quote(VALUE),
        quote_plus(VALUE),
        VALUE.encode().hex(),
        VALUE.encode().hex().upper(),
        base64.b64encode(VALUE.encode()).decode(),
        base64.b64encode(VALUE.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(VALUE.encode()).decode(),
        base64.b64encode(b"u:" + VALUE.encode()).decode(),  # Basic auth style
        base64.b64encode(b"ab:" + VALUE.encode() + b"zz").decode(),
        base64.b64encode(b"a" + VALUE.encode()).decode(),
    ],
    ids=lambda s: s[:12],
)
def test_every_known_form_is_redacted(printed: str) -> None:
    """Each form the module promises is gone from a line that prints it among other text."""
    out = Redactor({"tok": VALUE}).redact(f"before {printed} after")
    assert MARK in out
    for form in (VALUE, VALUE.encode().hex(), base64.b64encode(VALUE.encode()).decode()[:8]):
        assert form not in out


def test_a_fragment_cut_at_the_output_cap_is_redacted() -> None:
    """Output cut in the middle of a secret keeps none of its first characters."""
    out = Redactor({"tok": "abcdefghijklmnop"}).redact("result: abcdefghij")
    assert out == f"result: {MARK}"


def test_other_text_is_untouched() -> None:
    """Text without any form comes back unchanged, and an empty value redacts nothing."""
    text = "nothing to see here: 42"
    assert Redactor({"tok": VALUE}).redact(text) == text
    assert Redactor({"tok": ""}).redact(text) == text
    assert not Redactor({})


def test_each_secret_is_named_by_its_own_mark() -> None:
    """Two secrets in one text: each replaced by its own name."""
    out = Redactor({"a_key": "first-secret", "b_key": "second-secret"}).redact(
        "x first-secret y second-secret z"
    )
    assert out == "x [REDACTED:a_key] y [REDACTED:b_key] z"


@pytest.mark.parametrize("cut", [6, 9, 15])
def test_a_cut_form_is_redacted_from_where_it_starts(cut: int) -> None:
    """A trailing start of any form (hex here, repeating its own first characters earlier
    in the text) is redacted whole, however long the cut is; a shorter one is kept."""
    hexed = VALUE.encode().hex()
    out = Redactor({"tok": VALUE}).redact(f"{hexed[:6]} then {hexed[:cut]}")
    assert out == f"{hexed[:6]} then {MARK}"
    short = Redactor({"tok": VALUE}).redact(f"then {hexed[:5]}")
    assert short == f"then {hexed[:5]}"
