"""End to end: per-executor metrics on /api/v1/metrics move with what the executor does:
kills counted by reason from the calls' outcomes, the warm pool as the executor reports it.

The real `nexflow up` on the Docker backend (the one with a warm pool).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Stack, python_skill, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

KILLABLE_IN = {
    "type": "object",
    "properties": {"mode": {"enum": ["sleep", "spew", "ok"]}},
    "required": ["mode"],
    "additionalProperties": False,
}
KILLABLE_RUN = """\
import json, sys, time
mode = json.load(sys.stdin)["mode"]
if mode == "sleep":
    time.sleep(30)
elif mode == "spew":
    sys.stdout.write("x" * 1_000_000)
    sys.stdout.flush()
    time.sleep(30)
print(json.dumps({"mode": mode}))
"""


def _samples(stack: Stack, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = stack.client.get("/api/v1/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_kills_by_reason_and_warm_pool_move(tmp_path: Path) -> None:
    """A call killed for its wall time and one for its output each add one to
    nexflow_executor_kills{executor,reason}; a call that ends by itself adds none; the
    executor's warm pool shows ready sandboxes once a profile has been used."""
    python_skill(
        tmp_path / "home" / "skills",
        "killable",
        KILLABLE_RUN,
        description="Overstay its time or overflow its output, as asked.",
        input_schema=KILLABLE_IN,
        timeout_sec=2,
        max_output_kb=4,
    )
    stack = start_stack(tmp_path, "--sandbox", "docker", "--trust-skill", "killable")
    try:
        assert _samples(stack, "nexflow_executor_kills_total") == {}
        ok = stack.call("killable", {"mode": "ok"})
        assert ok.status_code == 200 and ok.json()["kill_reason"] == "none", ok.text
        assert _samples(stack, "nexflow_executor_kills_total") == {}
        for mode, reason in (("sleep", "timeout"), ("spew", "output_limit")):
            reply = stack.call("killable", {"mode": mode})
            assert reply.status_code == 200, reply.text
            assert reply.json()["kill_reason"] == reason, reply.text
        kills = _samples(stack, "nexflow_executor_kills_total")
        assert kills == {
            (("executor", "local"), ("reason", "timeout")): 1.0,
            (("executor", "local"), ("reason", "output_limit")): 1.0,
        }
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pool = _samples(stack, "nexflow_executor_pool")
            if pool.get((("executor", "local"), ("state", "ready")), 0) > 0:
                break
            time.sleep(0.5)
        assert pool[(("executor", "local"), ("state", "profiles"))] >= 1, pool
        assert pool[(("executor", "local"), ("state", "ready"))] >= 1, pool
        slots = _samples(stack, "nexflow_executor_slots")
        assert slots[(("executor", "local"), ("state", "total"))] >= 1, slots
    finally:
        stack.stop()
