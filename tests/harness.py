"""Start a real `nexflow up` on a temporary home and a free port (tests and benchmarks)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
BACKENDS = [
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("nsjail", marks=pytest.mark.nsjail),
]
"""Both sandbox backends, each with its marker, for module fixtures that run on each."""
NEXFLOW = Path(sys.executable).with_name("nexflow")


_PYTHON_SKILL = """\
---
name: {name}
description: {description}
version: 1.0.0
author: tests
location: ./run.py
runtime: python
permissions: []
metadata: {metadata}
requirements:
  binaries: [python3]
  files: [./run.py]
  env: []
---

## Input schema

```json
{input_schema}
```
"""


def python_skill(
    skills: Path,
    name: str,
    run: str,
    *,
    description: str,
    input_schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    timeout_sec: int = 30,
    max_output_kb: int = 64,
) -> Path:
    """Write a Python skill `name` (SKILL.md + run.py) under `skills`; the input schema
    defaults to an empty object with nothing else allowed."""
    folder = skills / name
    folder.mkdir(parents=True)
    text = _PYTHON_SKILL.format(
        name=name,
        description=description,
        metadata=json.dumps({"timeoutSec": timeout_sec, "maxOutputKb": max_output_kb}),
        input_schema=json.dumps(input_schema or {"type": "object", "additionalProperties": False}),
    )
    if output_schema is not None:
        text += f"\n## Output schema\n\n```json\n{json.dumps(output_schema)}\n```\n"
    (folder / "SKILL.md").write_text(text)
    (folder / "run.py").write_text(run)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """A running `nexflow up`: its URL, admin token, home and process."""

    url: str
    token: str
    home: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    @property
    def workspace(self) -> Path:
        return self.home / "workspace"

    def call(self, skill: str, value: object) -> httpx.Response:
        return self.client.post(f"/api/v1/skills/{skill}", json={"input": value})

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "NEXFLOW_URL": self.url, "NEXFLOW_HOME": str(self.home)}
        return subprocess.run(
            [str(NEXFLOW), *args], capture_output=True, text=True, env=env, timeout=120
        )

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return int(self.proc.returncode)


def wait_healthy(
    proc: subprocess.Popen[bytes], url: str, log_path: Path, what: str, seconds: float = 60
) -> None:
    """Wait until `url/health` answers 200; raise with the process's log if it exits or
    never does (then it is killed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} never became healthy:\n{log_path.read_text()}")


def start_stack(tmp: Path, *extra: str, env: dict[str, str] | None = None) -> Stack:
    """Start `nexflow up` with home `tmp/home`; a home left by an earlier stack is reused
    (a restart), and each start writes its own log file."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    starts = len(list(tmp.glob("nexflow-up*.log")))
    log_path = tmp / ("nexflow-up.log" if starts == 0 else f"nexflow-up-{starts}.log")
    run_env = {**os.environ, "NEXFLOW_ADMIN_TOKEN": "", **(env or {})}
    # `nexflow up` starts the chat gateway by default (a process that imports litellm): a
    # test stack has it only when it asks (NEXFLOW_WEB_CHAT) or configures a model, so the
    # many stacks that never chat do not pay for its start.
    model = run_env.get("NEXFLOW_LLM__MODEL")
    run_env.setdefault("NEXFLOW_WEB_CHAT", "true" if model else "false")
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [str(NEXFLOW), "up", "--home", str(home), "--port", str(port), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=run_env,
        )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, log_path, "nexflow up")
    token = (home / "admin.token").read_text().strip()
    return Stack(url, token, home, proc, log_path)


def writes_without_approval(tmp: Path) -> dict[str, str]:
    """The environment for a stack whose policy is the shipped one, except that `file-write`
    runs without approval (for tests about something else that write a file)."""
    target = tmp / "policies-writes"
    if not target.exists():
        shutil.copytree(REPO / "policies", target)
        data = json.loads((target / "data.json").read_text())
        data["nexflow"]["config"]["skills"].pop("file-write", None)
        (target / "data.json").write_text(json.dumps(data))
    return {"NEXFLOW_POLICY_DIR": str(target)}


def start_pair(tmp: Path, *extra: str, env: dict[str, str]) -> tuple[Stack, Stack]:
    """Stacks `a` and `b` (homes `tmp/a`, `tmp/b`, each with its executor) started with the
    same `env` (one database, say) and the same admin token."""
    a = start_stack(tmp / "a", *extra, env=env)
    (tmp / "b" / "home").mkdir(parents=True)
    shutil.copy2(a.home / "admin.token", tmp / "b" / "home" / "admin.token")
    try:
        b = start_stack(tmp / "b", *extra, env=env)
    except BaseException:
        a.stop()
        raise
    return a, b
