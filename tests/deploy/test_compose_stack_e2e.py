"""The Compose stack for real (deploy/compose.yaml on the local Docker engine): it comes
up from nothing, answers /health, runs calls on both executors over mTLS, and goes on
running calls after one executor is killed; the audit chain verifies at the end."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.deploy.images import build_deploy_images
from tests.deploy.tools import COMPOSE_FILE, compose, run
from tests.harness import free_port

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

UP_TIMEOUT_S = 240


@dataclass
class ComposeStack:
    project: str
    url: str
    env: dict[str, str]

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        cmd = [*compose(), "-p", self.project, "-f", str(COMPOSE_FILE), *args]
        return run(cmd, timeout=timeout, env=self.env)

    def logs(self, service: str) -> str:
        cmd = [
            *compose(),
            "-p",
            self.project,
            "-f",
            str(COMPOSE_FILE),
            "logs",
            "--no-color",
            service,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=60)
        return proc.stdout + proc.stderr


def _wait_healthy(url: str, stack: ComposeStack) -> None:
    deadline = time.monotonic() + UP_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/health", timeout=3)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    pytest.fail(
        f"/health did not answer 200 in {UP_TIMEOUT_S} s: {last}\n"
        f"{stack.logs('control-plane')[-3000:]}"
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    """A fresh Compose project on a free port, torn down with its volumes afterwards."""
    build_deploy_images()
    port = free_port()
    project = f"nexflow-e2e-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "NEXFLOW_PORT": str(port), "NEXFLOW_DB_PASSWORD": uuid.uuid4().hex}
    s = ComposeStack(project, f"http://127.0.0.1:{port}", env)
    try:
        try:
            s.compose("up", "-d", timeout=UP_TIMEOUT_S)
        except AssertionError as exc:  # say which service failed, with its own words
            logs = "\n".join(s.logs(n)[-1500:] for n in ("certs", "executor-1", "control-plane"))
            pytest.fail(f"{exc}\n--- service logs ---\n{logs}")
        _wait_healthy(s.url, s)
        yield s
    finally:
        subprocess.run(
            [
                *compose(),
                "-p",
                project,
                "-f",
                str(COMPOSE_FILE),
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "5",
            ],
            capture_output=True,
            env=env,
            timeout=180,
            check=False,
        )


def _client(stack: ComposeStack) -> httpx.Client:
    token = stack.compose("exec", "-T", "control-plane", "cat", "/var/lib/nexflow/admin.token")
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    return httpx.Client(base_url=stack.url, headers=headers, timeout=60)


def _echo(client: httpx.Client, i: int) -> str:
    payload = {"message": f"call {i}"}
    r = client.post("/api/v1/skills/echo", json={"input": payload})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "succeeded" and body["output"] == payload, body
    return str(body["call_id"])


def test_calls_run_on_both_executors_and_go_on_when_one_is_killed(stack: ComposeStack) -> None:
    """Calls spread over both executors; after executor-1 is killed every further call
    still succeeds (on executor-2), and the audit chain verifies."""
    with _client(stack) as client:
        first = [_echo(client, i) for i in range(8)]
        for name in ("executor-1", "executor-2"):
            log = stack.logs(name)
            assert any(call_id in log for call_id in first), f"{name} ran none of {first}"
        stack.compose("kill", "executor-1")
        later = [_echo(client, i) for i in range(8, 16)]
        log2 = stack.logs("executor-2")
        assert all(call_id in log2 for call_id in later)
        verify = client.get("/api/v1/audit/verify")
        assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text
