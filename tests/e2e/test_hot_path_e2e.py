"""End to end: the stack's calls take jails pre-started for them (`nexflow up --sandbox
nsjail`), so a call pays neither the jail's set-up nor the interpreter's start-up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail]


@pytest.fixture(scope="module")
def nsjail_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("hot"), "--sandbox", "nsjail")
    yield s
    s.stop()


def _warm(stack: Stack, call_id: str) -> bool:
    story = stack.client.get(f"/api/v1/calls/{call_id}").json()
    finished = [e for e in story["events"] if e["action"] == "call.finished"]
    assert len(finished) == 1 and finished[0]["payload"]["backend"] == "nsjail"
    return bool(finished[0]["payload"]["warm"])


def test_echo_calls_take_pre_started_jails(nsjail_stack: Stack, tmp_path: Path) -> None:
    """After the first echo call makes its profile known, the next calls each run in a
    jail set up before them: the control plane's requests for one skill keep one profile
    (skill, grants, limits) from call to call, and the stack pre-starts jails."""
    first = nsjail_stack.call("echo", {"data": 0})
    assert first.status_code == 200, first.text
    assert not _warm(nsjail_stack, first.json()["call_id"])  # nothing was known before it
    warm = 0
    for i in range(1, 9):
        time.sleep(0.3)  # time for the refill to set the next one up
        resp = nsjail_stack.call("echo", {"data": i})
        assert resp.status_code == 200 and resp.json()["output"] == {"data": i}
        warm += _warm(nsjail_stack, resp.json()["call_id"])
    assert warm >= 6, f"only {warm} of 8 calls took a pre-started jail"
