"""The gateway's log redactor: secret values and bearer tokens never leave in a line."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from nexflow_common.secrets import REDACTED
from nexflow_gateway import logs

SECRET = "sk-unit-secret-0123456789"


def test_secret_values_and_bearer_tokens_are_removed(capsys: pytest.CaptureFixture[str]) -> None:
    """A library line and a structlog line carrying the key or a bearer token are redacted."""
    logs.configure([SECRET], logging.DEBUG)
    try:
        logging.getLogger("a.library").info("calling with key=%s", SECRET)
        structlog.get_logger("t").info(
            "nested", extra={"deep": [f"x{SECRET}y"]}, header="Authorization: Bearer nxf_abc_def"
        )
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers[:] = []
    out = capsys.readouterr().out
    assert SECRET not in out and "nxf_abc_def" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["event"] == f"calling with key={REDACTED}"
    assert lines[1]["extra"] == {"deep": [f"x{REDACTED}y"]}
    assert lines[1]["header"] == f"Authorization: {REDACTED}"
