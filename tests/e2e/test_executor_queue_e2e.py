"""End to end: a burst beyond the executor's call slots queues at the control plane
instead of failing, and a call that waits too long is refused with nothing run.

The real `nexflow up` and its real executor, with one slot (`NEXFLOW_EXECUTOR_MAX_CALLS=1`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.harness import Stack, python_skill, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail]

NAP_S = 1.5
NAPPER_RUN = f"""\
import json, sys, time
n = json.load(sys.stdin)["n"]
time.sleep({NAP_S})
print(json.dumps({{"n": n}}))
"""


def _stack(tmp_path: Path, **env: str) -> Stack:
    python_skill(
        tmp_path / "home" / "skills",
        "napper",
        NAPPER_RUN,
        description="Sleep a moment, then say which call this was.",
        input_schema={
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "additionalProperties": False,
        },
        max_output_kb=4,
    )
    return start_stack(
        tmp_path,
        "--sandbox",
        "nsjail",
        "--trust-skill",
        "napper",
        env={"NEXFLOW_EXECUTOR_MAX_CALLS": "1", **env},
    )


@pytest.fixture
def queued(tmp_path: Path) -> Iterator[Stack]:
    stack = _stack(tmp_path)
    yield stack
    stack.stop()


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[Stack]:
    stack = _stack(tmp_path, NEXFLOW_EXECUTOR_QUEUE_S="0.5")
    yield stack
    stack.stop()


def _call(stack: Stack, n: int) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.token}"}) as c:
        reply = c.post("/api/v1/skills/napper", json={"input": {"n": n}}, timeout=60)
    return reply, time.monotonic() - start


def _queue_gauge(stack: Stack) -> float:
    text = stack.client.get("/api/v1/metrics").text
    (line,) = [x for x in text.splitlines() if x.startswith("nexflow_executor_queue ")]
    return float(line.split()[1])


def test_burst_beyond_the_slots_waits_its_turn(queued: Stack) -> None:
    """Three calls at once on one slot: all answer 200 with their own output, one after
    the other (the last waited about two naps), and the queue gauge saw them wait."""
    health = queued.client.get("/health").json()
    (local,) = health["executors"]
    assert local["slots_total"] == 1, local
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(_call, queued, n) for n in range(3)]
        seen_waiting = 0.0
        while not all(f.done() for f in futures):
            seen_waiting = max(seen_waiting, _queue_gauge(queued))
            time.sleep(0.05)
        results = [f.result() for f in futures]
    for n, (reply, _) in enumerate(results):
        assert reply.status_code == 200, reply.text
        assert reply.json()["output"] == {"n": n}
    slowest = max(elapsed for _, elapsed in results)
    assert slowest >= 3 * NAP_S * 0.9, f"the calls overlapped on one slot ({slowest:.2f} s)"
    assert seen_waiting >= 1, "no call was seen waiting for a slot"
    assert _queue_gauge(queued) == 0


def test_call_that_waits_too_long_is_refused_and_nothing_ran(impatient: Stack) -> None:
    """With a 0.5 s queue, a second call behind a 1.5 s one gets 503 executor_unavailable
    with its call id; its audit story is call.requested … call.failed, never a run."""
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_call, impatient, 1)
        time.sleep(0.4)  # the first holds the only slot
        second = pool.submit(_call, impatient, 2)
        (ok, _), (refused, waited) = first.result(), second.result()
    assert ok.status_code == 200, ok.text
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["error"] == "executor_unavailable", body
    assert "busy" in body["message"], body
    assert 0.4 <= waited < NAP_S + 1.0
    call_id = body["call_id"]
    events = impatient.client.get("/api/v1/audit", params={"call_id": call_id}).json()["events"]
    actions = [e["action"] for e in reversed(events)]  # the audit view lists newest first
    assert actions == ["call.requested", "call.decided", "call.dispatched", "call.failed"]
    failed = events[0]["payload"]
    assert failed["error"] == "executor_unavailable" and "busy" in failed["message"]
