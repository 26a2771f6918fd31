"""End to end: schemathesis against `nexflow up` (real executor, nsjail), every route of
`/api/openapi.json`, authenticated as the admin: its examples, coverage, fuzzing and
stateful phases must find no server error and no answer that breaks the documented
schema. Seeded and bounded (about a minute on two cores), so it does not flake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("schemathesis")]

ST = Path(sys.executable).with_name("st")
SEED = 20261207
EXAMPLES = 30  # per operation and phase


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    """Every operation, every phase: 0 responses >= 500, 0 response-schema violations."""
    stack = start_stack(tmp_path, "--sandbox", "nsjail")
    try:
        run = subprocess.run(
            [
                str(ST),
                "run",
                f"{stack.url}/api/openapi.json",
                *("--checks", "not_a_server_error,response_schema_conformance"),
                *("--phases", "examples,coverage,fuzzing,stateful"),
                *("-H", f"Authorization: Bearer {stack.token}"),
                *("--max-examples", str(EXAMPLES), "--seed", str(SEED)),
                *("--workers", "1", "--generation-database", "none"),
                *("--suppress-health-check", "all", "--no-color"),
                *("--request-timeout", "60"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    finally:
        stack.stop()
    report = run.stdout[-20_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, report
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in run.stdout, report
    assert "Traceback" not in stack.log_path.read_text()
