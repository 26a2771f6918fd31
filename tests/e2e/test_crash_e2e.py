"""End to end: SIGKILL `nexflow up` in the middle of a burst of calls, then restart it.

The audit chain must verify, every call answered 200 must have its whole story, every
call that was dispatched but never finished must be ended at restart (`call.failed`,
`control_plane_restarted`), the executor must not outlive its parent, and the
approvals pending before the crash must still be pending.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Stack, python_skill, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("crash-e2e")]

ARGS = ("--sandbox", "nsjail", "--trust-skill", "echo", "--trust-skill", "sleepy")
BURST = 60
KILL_AFTER_OK = 10  # SIGKILL once this many burst calls have answered 200
SLEEPERS = 2
PENDING = 3

SLEEPY_RUN = "import time\ntime.sleep(40)\nprint('{}')\n"


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _executor_pid(stack: Stack) -> int:
    for pid in _children(stack.proc.pid):
        with_args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if any(a.endswith(b"nexflow-executor") for a in with_args[:2]):
            return pid
    raise AssertionError(f"no nexflow-executor child of {stack.proc.pid}")


def _events(stack: Stack, **filters: str) -> list[dict[str, Any]]:
    """Every audit event matching `filters`, oldest first (all pages)."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {**filters, "limit": 1000}
    while True:
        page = stack.client.get("/api/v1/audit", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        out += body["events"]
        if body["next_before"] is None:
            return out[::-1]
        params["before"] = body["next_before"]


def _call(url: str, token: str, skill: str, value: object) -> httpx.Response:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        return c.post(f"/api/v1/skills/{skill}", json={"input": value}, timeout=60)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A home with the `sleepy` user skill; kills whatever executor outlived the test."""
    python_skill(
        tmp_path / "home" / "skills",
        "sleepy",
        SLEEPY_RUN,
        description="Sleep long enough to be running when the control plane is killed.",
        timeout_sec=60,
        max_output_kb=4,
    )
    yield tmp_path
    marker = str(tmp_path / "home").encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"nexflow-executor") for a in args[:2]) and any(
            a.startswith(marker) for a in args
        ):
            os.kill(int(proc.name), signal.SIGKILL)


def test_sigkill_mid_burst_then_restart(home: Path) -> None:
    """Kill -9 during 60 concurrent calls: after restart the chain verifies, every 200 has
    its full story, dispatched-never-finished calls end as control_plane_restarted,
    pending approvals are still pending, and the executor died with its parent."""
    stack = start_stack(home, *ARGS)
    executor = _executor_pid(stack)
    pool = ThreadPoolExecutor(BURST + SLEEPERS)
    try:
        pending = []
        for i in range(PENDING):
            asked = stack.call("shell-run", {"command": f"echo pending-{i}"})
            assert asked.status_code == 202, asked.text
            pending.append(asked.json())

        sleepers = [
            pool.submit(_call, stack.url, stack.token, "sleepy", {}) for _ in range(SLEEPERS)
        ]
        deadline = time.monotonic() + 30
        while len(_events(stack, action="call.dispatched", skill="sleepy")) < SLEEPERS:
            assert time.monotonic() < deadline, "the sleepy calls were never dispatched"
            time.sleep(0.1)

        oks = threading.Semaphore(0)

        def one(i: int) -> httpx.Response:
            reply = _call(stack.url, stack.token, "echo", {"data": i})
            if reply.status_code == 200:
                oks.release()
            return reply

        burst: list[Future[httpx.Response]] = [pool.submit(one, i) for i in range(BURST)]
        for _ in range(KILL_AFTER_OK):
            assert oks.acquire(timeout=30), "the burst did not get going"
        stack.proc.send_signal(signal.SIGKILL)
        stack.proc.wait(10)
        stack.client.close()

        replies: list[httpx.Response | None] = []
        for f in burst + sleepers:
            try:
                replies.append(f.result(timeout=60))
            except httpx.HTTPError:
                replies.append(None)  # cut off by the kill
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if stack.proc.poll() is None:
            stack.proc.kill()
    ok_ids = {r.json()["call_id"] for r in replies if r is not None and r.status_code == 200}
    assert len(ok_ids) >= KILL_AFTER_OK
    assert all(r is None or r.status_code == 200 for r in replies), [
        r.text for r in replies if r is not None and r.status_code != 200
    ]
    assert len(ok_ids) < BURST, "the kill came after the burst: nothing was in flight"

    # The chain verifies straight after the crash, from the database itself.
    raw = stack.cli("audit", "verify", "--home", str(stack.home))
    assert raw.returncode == 0, raw.stdout + raw.stderr

    # Restarted at once: the old executor, SIGTERMed by the kernel when its parent died
    # (parent-death signal), may still be stopping; the new `up` waits for it.
    stack = start_stack(home, *ARGS)
    try:
        assert not _alive(executor), "the executor outlived the SIGKILLed `nexflow up`"
        verified = stack.client.get("/api/v1/audit/verify").json()
        assert verified["ok"] is True and verified["first_bad_seq"] is None, verified

        for call_id in ok_ids:
            story = stack.client.get(f"/api/v1/calls/{call_id}").json()
            assert story["status"] == "succeeded", story
            actions = [e["action"] for e in story["events"]]
            assert actions == [
                "call.requested",
                "call.decided",
                "call.dispatched",
                "call.finished",
            ], actions

        dispatched = {e["call_id"] for e in _events(stack, action="call.dispatched")}
        finished = {e["call_id"] for e in _events(stack, action="call.finished")}
        failed = _events(stack, action="call.failed")
        restarted = {
            e["call_id"] for e in failed if e["reason_codes"] == ["control_plane_restarted"]
        }
        assert ok_ids <= finished and len(ok_ids) <= len(finished)
        assert dispatched == finished | restarted, "a dispatched call has no ending"
        assert not finished & restarted, "a finished call was also ended at restart"
        assert not ok_ids & restarted
        sleepy = {e["call_id"] for e in _events(stack, action="call.dispatched", skill="sleepy")}
        assert len(sleepy) == SLEEPERS and sleepy <= restarted
        for call_id in sleepy:
            story = stack.client.get(f"/api/v1/calls/{call_id}").json()
            assert story["status"] == "error", story
            assert story["events"][-1]["action"] == "call.failed"
            assert story["events"][-1]["actor"] == "admin"

        still = stack.client.get("/api/v1/approvals", params={"status": "pending"}).json()
        assert {p["approval_id"] for p in pending} <= {a["id"] for a in still["approvals"]}
        for p in pending:
            story = stack.client.get(f"/api/v1/calls/{p['call_id']}").json()
            assert story["status"] == "pending_approval", story

        # The restarted stack works, and a second restart ends nothing twice.
        again = stack.call("echo", {"message": "after the crash"})
        assert again.status_code == 200 and again.json()["status"] == "succeeded", again.text
    finally:
        assert stack.stop() == 0
    stack = start_stack(home, *ARGS)
    try:
        failed_again = _events(stack, action="call.failed")
        assert len(failed_again) == len(failed)
    finally:
        assert stack.stop() == 0


def _child_named(stack: Stack, program: bytes) -> int | None:
    for pid in _children(stack.proc.pid):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(program) for a in args[:2]):
            return pid
    return None


def test_the_executor_and_the_gateway_end_when_up_is_killed(tmp_path: Path) -> None:
    """`nexflow up` starts its executor and gateway without Python code between fork and
    exec (each child asks the kernel for a death signal itself): kill -9 `up`, and both
    are gone within seconds instead of living on as orphans."""
    stack = start_stack(tmp_path, "--sandbox", "nsjail", env={"NEXFLOW_WEB_CHAT": "true"})
    try:
        deadline = time.monotonic() + 60
        while (gateway := _child_named(stack, b"nexflow-gateway")) is None:
            assert time.monotonic() < deadline, "no nexflow-gateway child"
            time.sleep(0.1)
        executor = _executor_pid(stack)
        time.sleep(3)  # the gateway is past its imports and its own start
        stack.proc.send_signal(signal.SIGKILL)
        stack.proc.wait(10)
        stack.client.close()
        deadline = time.monotonic() + 20
        while _alive(executor) or _alive(gateway):
            assert time.monotonic() < deadline, (
                f"orphans: executor {_alive(executor)}, gateway {_alive(gateway)}"
            )
            time.sleep(0.1)
    finally:
        if stack.proc.poll() is None:
            stack.proc.kill()
