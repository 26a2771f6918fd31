"""Lookalike names: confusable characters, separators and one-edit typos are caught;
unrelated or short names are not."""

from __future__ import annotations

import pytest
from nexflow_registry.names import lookalikes, too_close


@pytest.mark.parametrize(
    ("new", "existing"),
    [
        ("ech0", "echo"),
        ("http_request", "http-request"),
        ("http.request", "http-request"),
        ("shell-rn", "shell-run"),
        ("fi1e-read", "file-read"),
        ("reqeusts", "requests"),
        ("requests2", "requests"),
        ("modern-tool", "modem-tool"),
        ("http-requests", "http-request"),
    ],
)
def test_close_names_are_caught(new: str, existing: str) -> None:
    """Each pair is too close."""
    assert too_close(new, existing)


@pytest.mark.parametrize(
    ("new", "existing"),
    [("echo", "echo"), ("pdf", "pdg"), ("shell-run", "file-read"), ("slack-post", "slack-read")],
)
def test_distinct_names_pass(new: str, existing: str) -> None:
    """The same name (that is ownership, not a lookalike), short names one letter apart and
    really different names pass."""
    assert not too_close(new, existing)


def test_lookalikes_lists_every_close_name() -> None:
    """All close names are reported, sorted."""
    assert lookalikes("ech0", ["echo", "ecko", "file-read"]) == ["echo"]
    assert lookalikes("slack_post", ["slack-post", "slackpost", "slack"]) == [
        "slack-post",
        "slackpost",
    ]
