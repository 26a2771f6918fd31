"""The Compose stack for real (deploy/compose.yaml on the local Docker engine): it comes
up from nothing with certificates from `nexflow certs`, runs calls on both executors over
mutual TLS with one shared workspace, and goes on running calls when one executor is
killed mid-load, every call accounted for in an audit chain that verifies."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.deploy.images import build_deploy_images
from tests.deploy.tools import COMPOSE_FILE, compose, run
from tests.harness import free_port

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.xdist_group("deploy-compose")]

UP_TIMEOUT_S = 240
EXECUTORS = ("executor-1", "executor-2")
# How a call may end while an executor dies under it: it ran, or it is refused clearly.
CLEAR_FAILURES = {502: "executor_lost", 503: "executor_unavailable"}


@dataclass
class ComposeStack:
    project: str
    url: str
    env: dict[str, str]

    def args(self, *args: str) -> list[str]:
        return [*compose(), "-p", self.project, "-f", str(COMPOSE_FILE), *args]

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run(self.args(*args), timeout=timeout, env=self.env)

    def logs(self, service: str) -> str:
        proc = subprocess.run(
            self.args("logs", "--no-color", service),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )
        return proc.stdout + proc.stderr

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()


def _wait_healthy(stack: ComposeStack) -> dict[str, Any]:
    """/health once it answers 200 with both executors healthy."""
    deadline = time.monotonic() + UP_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{stack.url}/health", timeout=3)
            body = r.json() if r.status_code == 200 else {}
            if sum(e["healthy"] for e in body.get("executors", [])) == len(EXECUTORS):
                return body  # type: ignore[no-any-return]
            last = f"{r.status_code} {r.text[:500]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    logs = "\n".join(stack.logs(n)[-1500:] for n in ("control-plane", *EXECUTORS))
    pytest.fail(f"/health not ready in {UP_TIMEOUT_S} s: {last}\n{logs}")


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    """A fresh Compose project on a free port, torn down with its volumes afterwards."""
    build_deploy_images()
    port = free_port()
    project = f"nexflow-e2e-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "NEXFLOW_PORT": str(port), "NEXFLOW_DB_PASSWORD": uuid.uuid4().hex}
    s = ComposeStack(project, f"http://127.0.0.1:{port}", env)
    started = time.monotonic()
    try:
        try:
            s.compose("up", "-d", timeout=UP_TIMEOUT_S)
        except AssertionError as exc:  # say which service failed, with its own words
            logs = "\n".join(s.logs(n)[-1500:] for n in ("init", *EXECUTORS, "control-plane"))
            pytest.fail(f"{exc}\n--- service logs ---\n{logs}")
        _wait_healthy(s)
        print(f"compose stack healthy in {time.monotonic() - started:.1f} s")
        yield s
    finally:
        down = subprocess.run(
            s.args("down", "-v", "--remove-orphans", "-t", "5"),
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        left = subprocess.run(
            [
                "docker",
                "volume",
                "ls",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={project}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert down.returncode == 0 and not left.stdout.strip(), down.stderr + left.stdout


@pytest.fixture(scope="module")
def client(stack: ComposeStack) -> Iterator[httpx.Client]:
    """The admin's client (its token generated into the control plane's home)."""
    token = stack.compose("exec", "-T", "control-plane", "cat", "/var/lib/nexflow/admin.token")
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=60) as c:
        yield c


def _call(client: httpx.Client, skill: str, payload: dict[str, Any]) -> httpx.Response:
    return client.post(f"/api/v1/skills/{skill}", json={"input": payload})


def _all_events(client: httpx.Client) -> list[dict[str, Any]]:
    """The whole audit log, oldest first."""
    events: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if before is not None:
            params["before"] = before
        page = client.get("/api/v1/audit", params=params).json()
        events += page["events"]
        before = page["next_before"]
        if before is None:
            return sorted(events, key=lambda e: e["seq"])


def _ran_on(client: httpx.Client, call_id: str) -> str:
    events = client.get("/api/v1/audit", params={"call_id": call_id}).json()["events"]
    (finished,) = [e for e in events if e["action"] == "call.finished"]
    return str(finished["payload"]["executor"])


def test_stack_serves_both_executors_over_mtls_and_shares_the_workspace(
    stack: ComposeStack, client: httpx.Client
) -> None:
    """Both executors are up over mutual TLS with the names their certificates carry;
    appends to one workspace file (each approved by an operator) run on both executors and a
    read sees every line."""
    health = client.get("/health").json()
    by_name = {e["name"]: e for e in health["executors"]}
    assert set(by_name) == set(EXECUTORS)
    for name in EXECUTORS:
        assert by_name[name]["executor_id"] == name and by_name[name]["slots_total"] == 8
    ran = []
    made = client.post("/api/v1/users", json={"name": "otto", "roles": ["operator"]})
    assert made.status_code == 201, made.text
    scopes = {"name": "approve", "scopes": ["approvals:decide"]}
    token = client.post("/api/v1/users/otto/tokens", json=scopes).json()["token"]
    otto = {"Authorization": f"Bearer {token}"}
    for i in range(4):
        r = _call(
            client, "file-write", {"path": "shared/log.txt", "content": f"{i}\n", "append": True}
        )
        assert r.status_code == 202, r.text  # a write waits for approval
        approve = f"/api/v1/approvals/{r.json()['approval_id']}/approve"
        assert client.post(approve, json={}, headers=otto).status_code == 200
        call_id = r.json()["call_id"]
        for _ in range(600):
            if client.get(f"/api/v1/calls/{call_id}").json()["status"] == "succeeded":
                break
            time.sleep(0.1)
        ran.append(_ran_on(client, call_id))
    assert set(ran) == set(EXECUTORS), ran
    read = _call(client, "file-read", {"path": "shared/log.txt"})
    assert read.status_code == 200, read.text
    assert read.json()["output"]["content"] == "0\n1\n2\n3\n"


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    after_kill: bool


def _load(client: httpx.Client, stop: threading.Event, killed: threading.Event) -> list[Outcome]:
    """Echo calls one after another until `stop`; each noted with whether it began after
    the kill."""
    done: list[Outcome] = []
    while not stop.is_set():
        after = killed.is_set()
        r = _call(client, "echo", {"message": f"load {len(done)}"})
        done.append(Outcome(r.status_code, r.json(), after))
    return done


def test_killing_an_executor_mid_load_loses_no_call_and_runs_none_twice(
    stack: ComposeStack, client: httpx.Client
) -> None:
    """Under load from 6 clients, `docker kill` of executor-1: calls go on on executor-2,
    each call either succeeded or ended with executor_lost/executor_unavailable, each is
    in the audit log with exactly one ending (none run twice), and the chain verifies."""
    stop, killed = threading.Event(), threading.Event()
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(_load, client, stop, killed) for _ in range(6)]
        time.sleep(4)  # both executors busy
        run(["docker", "kill", stack.container("executor-1")])
        killed.set()
        time.sleep(8)  # calls go on without it
        stop.set()
        outcomes = [o for f in futures for o in f.result()]
    ends = Counter(o.body.get("error", "succeeded") for o in outcomes)
    print(f"{len(outcomes)} calls in {time.monotonic() - started:.1f} s: {dict(ends)}")
    for o in outcomes:  # every answer is a result or a clear refusal
        if o.status != 200:
            assert CLEAR_FAILURES.get(o.status) == o.body.get("error"), o.body
        else:
            assert o.body["status"] == "succeeded" and o.body["output"]["message"].startswith(
                "load"
            )
    later = [o for o in outcomes if o.after_kill]
    assert len(later) >= 10 and all(o.status == 200 for o in later[-5:]), later[-5:]

    events = _all_events(client)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # none missing
    endings = Counter(
        e["call_id"] for e in events if e["action"] in ("call.finished", "call.failed")
    )
    assert all("call_id" in o.body for o in outcomes if o.status != 503)
    by_call = {o.body["call_id"]: o for o in outcomes if "call_id" in o.body}
    for call_id in by_call:
        assert endings[call_id] == 1, (call_id, endings[call_id])
    finished = {e["call_id"]: e for e in events if e["action"] == "call.finished"}
    failed = {e["call_id"]: e for e in events if e["action"] == "call.failed"}
    for call_id, o in by_call.items():
        if o.status == 200:
            assert call_id in finished
        else:
            assert failed[call_id]["reason_codes"] == [o.body["error"]], failed[call_id]
    ran_on = Counter(finished[c]["payload"]["executor"] for c in by_call if c in finished)
    assert set(ran_on) == set(EXECUTORS), ran_on
    after_ids = [o.body["call_id"] for o in later[len(later) // 2 :] if o.status == 200]
    assert {finished[c]["payload"]["executor"] for c in after_ids} == {"executor-2"}

    runs = Counter(
        line["call_id"]
        for name in EXECUTORS
        for line in _json_lines(stack.logs(name))
        if line.get("event") == "executor.call" and line.get("outcome") != "refused"
    )
    assert not [c for c, n in runs.items() if n > 1], runs.most_common(3)

    verify = client.get("/api/v1/audit/verify", params={"fresh": "true"})
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text
    assert verify.json()["checked"] == len(events)


def _json_lines(log: str) -> Iterator[dict[str, Any]]:
    """The JSON objects in `docker-compose logs` output (after each `service | ` prefix)."""
    for raw in log.splitlines():
        _, sep, rest = raw.partition("| ")
        if sep and rest.startswith("{"):
            try:
                yield json.loads(rest)
            except ValueError:
                continue
