"""The README's shell examples, run as written against a real `nexflow up`.

Every ```sh block of README.md carries a marker on the line before it:
`<!-- readme-test: ... runs this block -->` (run here) or `<!-- readme-test: skip (why) -->`.
A marked block runs line by line, in README order, on one stack, with `bash` in the
repository (so `.venv/bin/nexflow` is the CLI, `nexflow` is on PATH), `HOME` set so that
`~/.nexflow` is the stack's home, and `localhost:8080` / `127.0.0.1:8080` turned into the
stack's address. What a line must do is what its trailing comment says:

    # 403 path_outside_grant   the command fails (a CLI exit is non-zero) and says the code
    # → TEXT                   the command succeeds and its output contains TEXT
    (anything else, or none)   the command exits 0

Placeholders the README uses stand for real things: `nxf_...` is the last API token an
earlier line of the block printed and `<id>` its id; `a_` + 16 hex digits are pending
approvals made (by another user) before the block runs, one per distinct placeholder.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import NEXFLOW, REPO, Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail]

README = REPO / "README.md"
_FENCE = re.compile(r"^```sh\n(?P<body>.*?)^```", re.M | re.S)
_MARK = re.compile(r"<!-- readme-test: (?P<what>.*?) -->")
_COMMENT = re.compile(r"\s#\s(?P<text>.*)$")
_STATUS = re.compile(r"^(?P<status>\d{3})\s+(?P<code>[a-z_]+)")
_APPROVAL = re.compile(r"\ba_[0-9a-f]{16}\b")
_TOKEN = re.compile(r"nxf_(?P<id>[A-Za-z0-9]+)_[A-Za-z0-9_\-]+")
PASSWORD = "readme-test-password-1"


@dataclass(frozen=True)
class Line:
    number: int  # in README.md
    command: str
    comment: str


@dataclass(frozen=True)
class Block:
    number: int
    marker: str | None
    lines: list[Line]

    @property
    def runs(self) -> bool:
        return self.marker is not None and not self.marker.startswith("skip")


def readme_blocks() -> list[Block]:
    text = README.read_text()
    blocks = []
    for fence in _FENCE.finditer(text):
        start = text.count("\n", 0, fence.start()) + 1
        mark = _MARK.fullmatch(text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1])
        lines = []
        for i, raw in enumerate(fence.group("body").splitlines(), start=start + 1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            comment = _COMMENT.search(raw)
            command = raw[: comment.start()] if comment else raw
            lines.append(Line(i, command.strip(), comment.group("text") if comment else ""))
        blocks.append(Block(start, mark.group("what") if mark else None, lines))
    return blocks


def test_every_shell_block_of_the_readme_is_marked_and_most_run() -> None:
    """Each ```sh block says whether this test runs it; the runnable ones all are."""
    blocks = readme_blocks()
    unmarked = [b.number for b in blocks if b.marker is None]
    assert not unmarked, f"README.md ```sh blocks at lines {unmarked} carry no readme-test marker"
    run = [b for b in blocks if b.runs]
    assert len(run) >= 5, [b.number for b in run]
    assert any("path_outside_grant" in line.comment for b in run for line in b.lines)


def _pending_approvals(stack: Stack, count: int) -> list[str]:
    """`count` pending approvals, asked for by an operator (one may not approve one's own)."""
    stack.client.post("/api/v1/users", json={"name": "readme-requester", "roles": ["operator"]})
    made = stack.client.post(
        "/api/v1/users/readme-requester/tokens", json={"name": "t", "scopes": ["calls:run"]}
    )
    assert made.status_code == 201, made.text
    headers = {"Authorization": f"Bearer {made.json()['token']}"}
    ids = []
    for i in range(count):
        answer = httpx.post(
            f"{stack.url}/api/v1/skills/shell-run",
            json={"input": {"command": f"echo {i}"}},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["approval_id"])
    return ids


def _run_block(block: Block, stack: Stack, env: dict[str, str]) -> list[str]:
    """Run the block's lines; the problems found, one per line that did not do as told."""
    port = stack.url.rsplit(":", 1)[1]
    placeholders = sorted({m for line in block.lines for m in _APPROVAL.findall(line.command)})
    approvals = dict(zip(placeholders, _pending_approvals(stack, len(placeholders)), strict=True))
    prelude: list[str] = []
    token = token_id = None
    problems = []
    for line in block.lines:
        command = line.command.replace(".venv/bin/nexflow", str(NEXFLOW))
        for host in ("localhost:8080", "127.0.0.1:8080"):
            command = command.replace(host, f"127.0.0.1:{port}")
        for placeholder, real in approvals.items():
            command = command.replace(placeholder, real)
        if token is not None and token_id is not None:
            command = command.replace("nxf_...", token).replace("<id>", token_id)
        done = subprocess.run(
            ["bash", "-ec", "\n".join([*prelude, command])],
            cwd=REPO,
            env=env,
            input=f"{PASSWORD}\n{PASSWORD}\n",
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,  # no terminal: a password prompt reads stdin
        )
        output = done.stdout + done.stderr
        if re.match(r"^[A-Za-z_]\w*=", command):
            prelude.append(command)  # `H="..."`: later lines of the block use it
        if found := _TOKEN.findall(output):
            token_id = found[-1]
            token = next(m.group(0) for m in _TOKEN.finditer(output) if m.group("id") == token_id)
        if why := _verdict(line, command, done.returncode, output):
            problems.append(f"README.md:{line.number}: {line.command}\n  {why}\n  {output[-600:]}")
    return problems


def _verdict(line: Line, command: str, status: int, output: str) -> str | None:
    """Why the line did not do what its comment says, or None."""
    if expected := _STATUS.match(line.comment):
        code = expected.group("code")
        if code not in output:
            return f"expected {code} in the output"
        if int(expected.group("status")) >= 400 and "nexflow" in command and status == 0:
            return f"expected a failing exit for {expected.group(0)}"
        return None
    if status != 0:
        return f"exited {status}"
    if line.comment.startswith("→ ") and line.comment[2:] not in output:
        return f"expected {line.comment[2:]!r} in the output"
    return None


def test_readme_examples_do_what_the_readme_says(tmp_path: Path) -> None:
    """Every runnable README example, run as a reader would, gives the outcome it shows."""
    user_home = tmp_path / "user"
    user_home.mkdir()
    (user_home / ".nexflow").symlink_to(tmp_path / "home", target_is_directory=True)
    stack = start_stack(tmp_path)
    try:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("NEXFLOW_") or k == "NEXFLOW_REQUIRE_REAL_PARTS"
        }
        env.update(
            HOME=str(user_home),
            PATH=f"{NEXFLOW.parent}{os.pathsep}{env.get('PATH', '')}",
            NEXFLOW_URL=stack.url,
        )
        problems = []
        ran = 0
        for block in readme_blocks():
            if block.runs:
                problems += _run_block(block, stack, env)
                ran += len(block.lines)
        assert ran >= 20, ran
        assert not problems, "\n".join(problems)
    finally:
        stack.stop()
