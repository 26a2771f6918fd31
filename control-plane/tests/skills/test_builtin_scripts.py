"""The built-in skill scripts, run directly with the host's python3/bash (no sandbox)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

BUILTIN = Path(__file__).resolve().parents[3] / "skills"
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "python3"


def run(skill: str, payload: Any, workspace: Path) -> tuple[int, Any, str]:
    """Run a built-in like the sandbox does: input on stdin, cwd /tmp, isolated python."""
    script = BUILTIN / skill / ("run.sh" if skill == "shell-run" else "run.py")
    argv = ["bash", str(script)] if script.suffix == ".sh" else [PYTHON, "-I", str(script)]
    env = {"PATH": "/usr/bin:/bin", "NEXFLOW_WORKSPACE": str(workspace)}
    stdin = payload if isinstance(payload, str) else json.dumps(payload)
    proc = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, cwd="/tmp", timeout=30
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return workspace


def test_echo_returns_input(ws: Path) -> None:
    """echo prints its input object unchanged."""
    payload = {"message": "héllo", "data": [1, {"a": None}]}
    assert run("echo", payload, ws)[:2] == (0, payload)


def test_echo_refuses_non_object(ws: Path) -> None:
    """echo fails with a JSON error on input that is not an object."""
    code, out, _ = run("echo", "[1]", ws)
    assert code == 1 and out["error"] == "bad_input"


def test_file_write_then_read(ws: Path) -> None:
    """file-write creates parents and appends; file-read returns the text and its size."""
    assert run("file-write", {"path": "a/b.txt", "content": "héllo\n"}, ws)[:2] == (
        0,
        {"path": "a/b.txt", "bytes_written": 7},
    )
    assert run("file-write", {"path": "a/b.txt", "content": "x", "append": True}, ws)[0] == 0
    code, out, _ = run("file-read", {"path": "a/b.txt"}, ws)
    assert code == 0
    assert out == {
        "path": "a/b.txt",
        "size": 8,
        "content": "héllo\nx",
        "encoding": "utf-8",
        "truncated": False,
    }


def test_file_read_truncates_and_base64(ws: Path) -> None:
    """Binary content comes back base64; ``max_bytes`` truncates and says so."""
    (ws / "bin.dat").write_bytes(b"\x00\xff\x10abc")
    code, out, _ = run("file-read", {"path": str(ws / "bin.dat"), "max_bytes": 3}, ws)
    assert code == 0
    assert out["encoding"] == "base64" and out["truncated"] is True and out["size"] == 6
    assert base64.b64decode(out["content"]) == b"\x00\xff\x10"


@pytest.mark.parametrize("skill", ["file-read", "file-write"])
@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "link/secret.txt", "esc"])
def test_file_skills_stay_in_workspace(ws: Path, skill: str, path: str) -> None:
    """Paths that resolve outside the workspace (.., absolute, symlinks) are refused."""
    (ws.parent / "secret.txt").write_text("top secret")
    os.symlink(ws.parent, ws / "link")
    os.symlink(ws.parent / "secret.txt", ws / "esc")
    code, out, _ = run(skill, {"path": path, "content": "pwned"}, ws)
    assert (code, out["error"]) == (1, "outside_workspace")
    assert (ws.parent / "secret.txt").read_text() == "top secret"


def test_file_read_missing(ws: Path) -> None:
    """Reading a file that does not exist fails with ``not_found``."""
    code, out, _ = run("file-read", {"path": "nope"}, ws)
    assert (code, out["error"]) == (1, "not_found")


def test_shell_run_captures(ws: Path) -> None:
    """shell-run runs in the workspace (or ``cwd``) and reports exit code and output."""
    (ws / "sub").mkdir()
    cmd = 'echo out; echo err >&2; basename "$PWD"; exit 3'
    code, out, _ = run("shell-run", {"command": cmd, "cwd": "sub"}, ws)
    assert code == 0
    assert out == {"exit_code": 3, "stdout": "out\nsub\n", "stderr": "err\n", "truncated": False}


def test_shell_run_quotes_survive(ws: Path) -> None:
    """Quotes, $ and newlines in the command reach bash exactly once, unexpanded by the wrapper."""
    cmd = "x='$HOME \"q\"'\nprintf '%s' \"$x\""
    code, out, _ = run("shell-run", {"command": cmd}, ws)
    assert (code, out["stdout"]) == (0, '$HOME "q"')


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("not json", "bad_input"),
        ({"command": ""}, "bad_input"),
        ({"command": "ls", "cwd": "../.."}, "outside_workspace"),
        ({"command": "ls", "cwd": "missing"}, "not_found"),
    ],
)
def test_shell_run_refuses(ws: Path, payload: Any, error: str) -> None:
    """shell-run refuses bad input and a cwd outside the workspace before running anything."""
    code, out, _ = run("shell-run", payload, ws)
    assert (code, out["error"]) == (1, error)
