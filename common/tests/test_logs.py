"""The one redaction every service's log lines go through."""

from __future__ import annotations

import pytest
from nexflow_common.logs import redact_log_event, scrub_log_text
from nexflow_common.secrets import REDACTED

TOKEN = "nxf_abcd1234_" + "s3cr3tS3cr3tS3cr3t"


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        (f"GET /ws/logs?token={TOKEN}&x=1", TOKEN, "/ws/logs?token="),
        ("Cookie: nexflow_session=abc123def", "abc123def", "Cookie: "),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig", "eyJhbGciOi", "Authorization: "),
        ('{"api_key": "k-9f8e7d6c"}', "k-9f8e7d6c", '"api_key": "'),
        ("proxy https://bob:hunter2@example.com/", "hunter2", "example.com"),
        (f"token {TOKEN} used", "s3cr3tS3cr3tS3cr3t", "nxf_abcd1234_"),
        ("password: swordfish", "swordfish", "password: "),
    ],
)
def test_secret_text_is_scrubbed_and_its_context_kept(text: str, gone: str, kept: str) -> None:
    """Each secret form loses its value and keeps what names it."""
    scrubbed = scrub_log_text(text)
    assert gone not in scrubbed and kept in scrubbed and REDACTED in scrubbed


def test_event_keys_naming_secrets_are_redacted_references_are_not() -> None:
    """Values under secret-looking keys (and `env`) go; `*_file`, `*_bytes`, ids stay."""
    event = {
        "event": "call.started",
        "token": "abc",
        "env": {"HOME": "/root"},
        "token_file": "/etc/nexflow/token",
        "output_bytes": 1024,
        "session_id": "s-1",
        "nested": {"authorization": "Basic dXNlcjpwYXNz", "call_id": "c-1"},
    }
    out = redact_log_event(None, "info", dict(event))
    assert out["token"] == REDACTED and out["env"] == REDACTED
    assert out["token_file"] == "/etc/nexflow/token" and out["output_bytes"] == 1024
    assert out["session_id"] == "s-1"
    assert out["nested"] == {"authorization": REDACTED, "call_id": "c-1"}
