"""End to end: calls that run without a held request (`"wait": false`), cancelled calls,
and outputs held against the skill's output schema (`output_invalid`).

The real `nexflow up` with its real nsjail executor; the skills are this test's own, in
the stack's home. A cancelled call's sandboxed process is looked for in the host's /proc
by a marker on its command line, before (it must be seen) and after (it must be gone).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Stack, python_skill, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail]

# Sleeps `s` seconds in a child process whose command line carries `marker`, then says so.
NAPPER_RUN = """\
import json, subprocess, sys
value = json.load(sys.stdin)
subprocess.run([sys.executable, "-c", "import sys, time; time.sleep(float(sys.argv[1]))",
                str(value["s"]), value["marker"]], check=True)
print(json.dumps({"slept": value["s"], "marker": value["marker"]}))
"""
NAPPER_IN = {
    "type": "object",
    "properties": {"s": {"type": "number"}, "marker": {"type": "string"}},
    "required": ["s", "marker"],
    "additionalProperties": False,
}
NAPPER_OUT = {
    "type": "object",
    "properties": {"slept": {"type": "number"}, "marker": {"type": "string"}},
    "required": ["slept", "marker"],
}

# Prints whatever it is told to, as JSON (`value`) or as it is (`text`).
PARROT_RUN = """\
import json, sys
value = json.load(sys.stdin)
print(value["text"] if "text" in value else json.dumps(value["value"]))
"""
PARROT_IN = {"type": "object", "properties": {"value": {}, "text": {"type": "string"}}}
PARROT_OUT = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "word": {"type": "string", "pattern": "^(a+)+$"}},
    "required": ["n"],
}

# Evaluation that doubles per level of nesting: the step budget must stop it.
FAN_OUT = {
    "type": "object",
    "properties": {"n": {"items": {"allOf": [{"$ref": "#/properties/n"}] * 2}}},
}
FAN_RUN = """\
import json
nested = []
for _ in range(40):
    nested = [nested]
print(json.dumps({"n": nested}))
"""


def _skill(home: Path, name: str, run: str, schema_in: Any, schema_out: Any) -> None:
    python_skill(
        home / "skills",
        name,
        run,
        description=f"The {name} of the long-calls tests.",
        input_schema=schema_in,
        output_schema=schema_out,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("longcalls")
    home = tmp / "home"
    _skill(home, "napper", NAPPER_RUN, NAPPER_IN, NAPPER_OUT)
    _skill(home, "parrot", PARROT_RUN, PARROT_IN, PARROT_OUT)
    _skill(home, "fanout", FAN_RUN, {"type": "object"}, FAN_OUT)
    trust = [a for n in ("napper", "parrot", "fanout") for a in ("--trust-skill", n)]
    s = start_stack(tmp, "--sandbox", "nsjail", *trust)
    yield s
    s.stop()


def _marker() -> str:
    return f"nexflow-longcall-{secrets.token_hex(8)}"


def _pids_with(marker: str) -> list[int]:
    """Host processes whose command line holds `marker` (sandboxed ones included)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _start(client: httpx.Client, skill: str, value: Any) -> str:
    resp = client.post(f"/api/v1/skills/{skill}", json={"input": value, "wait": False})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "running" and body["skill"] == skill
    return str(body["call_id"])


def _story(client: httpx.Client, call_id: str) -> dict[str, Any]:
    resp = client.get(f"/api/v1/calls/{call_id}")
    assert resp.status_code == 200, resp.text
    story: dict[str, Any] = resp.json()
    return story


def _ended(client: httpx.Client, call_id: str, timeout_s: float = 30) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        story = _story(client, call_id)
        return story if story["status"] not in ("running", "pending_approval") else None

    story: dict[str, Any] = _wait_for(ended, timeout_s, f"call {call_id} to end")
    return story


def _verified(stack: Stack) -> None:
    report = stack.client.get("/api/v1/audit/verify", params={"fresh": "true"}).json()
    assert report["ok"], report


def test_wait_false_answers_202_then_the_story_runs_to_its_result(stack: Stack) -> None:
    """`wait: false` answers 202 `running` at once; the story says `running` while the
    skill sleeps, then `succeeded` with the skill's output."""
    marker = _marker()
    began = time.monotonic()
    call_id = _start(stack.client, "napper", {"s": 2.0, "marker": marker})
    assert time.monotonic() - began < 1.5  # did not wait for the two-second nap
    assert _story(stack.client, call_id)["status"] == "running"
    story = _ended(stack.client, call_id)
    assert story["status"] == "succeeded", story
    assert story["result"]["output"] == {"slept": 2.0, "marker": marker}
    actions = [e["action"] for e in story["events"]]
    assert actions == ["call.requested", "call.decided", "call.dispatched", "call.finished"]
    _verified(stack)


def test_cancel_kills_a_running_call_and_its_process(stack: Stack) -> None:
    """A cancelled wait:false call ends killed/cancelled within seconds, its sandboxed
    process is gone, and its story records who asked before how it ended."""
    marker = _marker()
    call_id = _start(stack.client, "napper", {"s": 25, "marker": marker})
    _wait_for(lambda: _pids_with(marker), 20, "the sandboxed sleeper to start")
    began = time.monotonic()
    resp = stack.client.post(f"/api/v1/calls/{call_id}/cancel")
    took = time.monotonic() - began
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"call_id": call_id, "status": "killed", "kill_reason": "cancelled"}
    assert took < 3, took
    _wait_for(lambda: not _pids_with(marker), 2, "the sandboxed sleeper to be gone")
    story = _ended(stack.client, call_id)
    assert story["status"] == "killed"
    assert story["result"]["kill_reason"] == "cancelled"
    actions = [e["action"] for e in story["events"]]
    assert actions[-2:] == ["call.cancel_requested", "call.finished"], actions
    asked = story["events"][-2]
    assert asked["actor"] == "admin" and asked["payload"]["started_by"] == "admin"
    _verified(stack)


def test_cancel_ends_a_held_call_with_its_killed_result(stack: Stack) -> None:
    """A wait:true call cancelled from elsewhere: its held request answers the killed
    result (kill_reason `cancelled`)."""
    marker = _marker()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(stack.call, "napper", {"s": 25, "marker": marker})
        _wait_for(lambda: _pids_with(marker), 20, "the sandboxed sleeper to start")
        page = stack.client.get("/api/v1/audit", params={"action": "call.dispatched", "limit": 1})
        call_id = page.json()["events"][0]["call_id"]
        resp = stack.client.post(f"/api/v1/calls/{call_id}/cancel")
        assert resp.status_code == 200, resp.text
        answer = held.result(timeout=10)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["call_id"] == call_id
    assert (result["status"], result["kill_reason"]) == ("killed", "cancelled")
    assert not _pids_with(marker)


def test_cancel_of_a_finished_or_unknown_call_is_refused(stack: Stack) -> None:
    """A finished call: 409 `call_not_running` with its status; an unknown one: 404."""
    resp = stack.client.post("/api/v1/skills/napper", json={"input": {"s": 0, "marker": _marker()}})
    assert resp.status_code == 200 and resp.json()["status"] == "succeeded", resp.text
    call_id = resp.json()["call_id"]
    refused = stack.client.post(f"/api/v1/calls/{call_id}/cancel")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "call_not_running"
    assert refused.json()["status"] == "succeeded"
    unknown = stack.client.post("/api/v1/calls/c_00000000000000000000000/cancel")
    assert unknown.status_code == 404 and unknown.json()["error"] == "call_not_found"


def _user_client(stack: Stack, name: str) -> httpx.Client:
    resp = stack.client.post("/api/v1/users", json={"name": name, "roles": ["user"]})
    assert resp.status_code == 201, resp.text
    resp = stack.client.post(f"/api/v1/users/{name}/tokens", json={"name": "e2e"})
    assert resp.status_code == 201, resp.text
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {resp.json()['token']}"}, timeout=30
    )


def test_only_the_caller_or_calls_cancel_may_cancel(stack: Stack) -> None:
    """Another non-admin user's cancel is 403 `insufficient_scope` (`calls:cancel`) and
    the call runs on; the user who started it may cancel it."""
    with _user_client(stack, "carol") as carol, _user_client(stack, "dave") as dave:
        marker = _marker()
        call_id = _start(carol, "napper", {"s": 25, "marker": marker})
        _wait_for(lambda: _pids_with(marker), 20, "the sandboxed sleeper to start")
        denied = dave.post(f"/api/v1/calls/{call_id}/cancel")
        assert denied.status_code == 403, denied.text
        assert denied.json()["error"] == "insufficient_scope"
        assert denied.json()["scope"] == "calls:cancel"
        assert _pids_with(marker), "a refused cancel must not kill the call"
        assert _story(stack.client, call_id)["status"] == "running"
        own = carol.post(f"/api/v1/calls/{call_id}/cancel")
        assert own.status_code == 200, own.text
        assert own.json()["status"] == "killed"
    _wait_for(lambda: not _pids_with(marker), 2, "the sandboxed sleeper to be gone")


def test_output_that_breaks_its_schema_fails_the_call(stack: Stack) -> None:
    """Output of the wrong type, and output that is not JSON, end `failed` with
    `output_invalid` naming the place; call.finished keeps the raw stdout."""
    resp = stack.call("parrot", {"value": {"n": "seven"}})
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert (result["status"], result["error"]) == ("failed", "output_invalid"), result
    assert result["message"].startswith("output.n: "), result["message"]
    assert result["exit_code"] == 0 and result["kill_reason"] == "none"
    story = _story(stack.client, result["call_id"])
    assert story["status"] == "failed" and story["error"] == "output_invalid"
    finished = story["events"][-1]
    assert finished["action"] == "call.finished"
    assert finished["reason_codes"] == ["output_invalid"]
    assert finished["payload"]["field"] == "output.n"
    assert finished["payload"]["stdout"] == '{"n": "seven"}\n'

    text = stack.call("parrot", {"text": "seven"}).json()
    assert (text["status"], text["error"]) == ("failed", "output_invalid"), text
    assert "not JSON" in text["message"]

    good = stack.call("parrot", {"value": {"n": 7, "word": "aaaa"}}).json()
    assert (good["status"], good["error"], good["output"]) == (
        "succeeded",
        None,
        {"n": 7, "word": "aaaa"},
    )


def test_output_schema_patterns_and_fan_out_cannot_stall(stack: Stack) -> None:
    """A catastrophic-backtracking pattern is matched in linear time, and a fan-out
    output schema stops at its step budget (`output_invalid`), while /health answers."""
    evil = "a" * 5000 + "!"
    began = time.monotonic()
    result = stack.call("parrot", {"value": {"n": 1, "word": evil}}).json()
    assert time.monotonic() - began < 10
    assert (result["status"], result["error"]) == ("failed", "output_invalid"), result
    assert result["message"].startswith("output.word: ")
    assert len(result["message"]) <= 300

    with ThreadPoolExecutor(1) as pool:
        began = time.monotonic()
        costly = pool.submit(stack.call, "fanout", {})
        slowest = 0.0
        while not costly.done():
            t0 = time.monotonic()
            assert stack.client.get("/health").status_code == 200
            slowest = max(slowest, time.monotonic() - t0)
            time.sleep(0.05)
        answer = costly.result().json()
    assert (answer["status"], answer["error"]) == ("failed", "output_invalid"), answer
    assert "steps" in answer["message"] or "longer" in answer["message"], answer["message"]
    assert slowest < 1.0, slowest
    assert time.monotonic() - began < 20
    _verified(stack)


def test_openapi_documents_the_long_call_routes(stack: Stack) -> None:
    """/api/openapi.json names `wait`, the 202 `running` answer and the cancel route."""
    doc = stack.client.get("/api/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert schemas["RunRequest"]["properties"]["wait"]["default"] is True
    assert schemas["StartedCallOut"]["examples"][0]["status"] == "running"
    cancel = doc["paths"]["/api/v1/calls/{call_id}/cancel"]["post"]
    assert {"200", "202"} <= set(cancel["responses"])


@pytest.fixture
def one_slot(tmp_path: Path) -> Iterator[Stack]:
    _skill(tmp_path / "home", "napper", NAPPER_RUN, NAPPER_IN, NAPPER_OUT)
    s = start_stack(
        tmp_path,
        "--sandbox",
        "nsjail",
        "--trust-skill",
        "napper",
        env={"NEXFLOW_EXECUTOR_MAX_CALLS": "1"},
    )
    yield s
    s.stop()


def test_cancel_of_a_call_still_waiting_for_a_slot_runs_nothing(one_slot: Stack) -> None:
    """A wait:false call queued behind a full executor, cancelled, ends killed/cancelled
    at once and its script never starts; the call ahead of it runs on."""
    first, second = _marker(), _marker()
    ahead = _start(one_slot.client, "napper", {"s": 25, "marker": first})
    _wait_for(lambda: _pids_with(first), 20, "the first sleeper to start")
    queued = _start(one_slot.client, "napper", {"s": 25, "marker": second})
    time.sleep(0.5)
    assert _story(one_slot.client, queued)["status"] == "running"
    resp = one_slot.client.post(f"/api/v1/calls/{queued}/cancel")
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["kill_reason"]) == ("killed", "cancelled")
    finished = _ended(one_slot.client, queued)["events"][-1]
    assert finished["payload"]["detail"] == "cancelled before an executor started it"
    time.sleep(0.5)
    assert not _pids_with(second)
    assert _pids_with(first) and _story(one_slot.client, ahead)["status"] == "running"
    assert one_slot.client.post(f"/api/v1/calls/{ahead}/cancel").status_code == 200
    _verified(one_slot)
