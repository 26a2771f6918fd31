"""`nexflow user ...` and `nexflow token ...` against a real control plane (uvicorn, HTTP).

Exit codes: 0 done, 1 the server refused, 2 a bad argument (one line, no traceback,
nothing sent).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from nexflow_control.app import create_app
from nexflow_control.cli import app as cli
from typer.testing import CliRunner, Result

from .conftest import ADMIN_TOKEN, make_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, skills: Path) -> Iterator[str]:
    """A control plane served by uvicorn in a thread; its base URL."""
    settings = make_settings(tmp_path_factory.mktemp("cli"), skills)
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", ws="none"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn-cli-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def run(server: str, *args: str, token: str = ADMIN_TOKEN) -> Result:
    env = {"NEXFLOW_URL": server, "NEXFLOW_TOKEN": token}
    return CliRunner().invoke(cli, list(args), env=env)


def test_user_lifecycle(server: str) -> None:
    """add, list, roles, disable, enable, link, unlink: each exits 0 and does what it says."""
    assert run(server, "user", "add", "alice", "--role", "user", "-r", "viewer").exit_code == 0
    listed = run(server, "user", "list")
    assert listed.exit_code == 0 and "alice" in listed.stdout and "user,viewer" in listed.stdout

    assert run(server, "user", "roles", "alice", "--role", "operator").exit_code == 0
    assert run(server, "user", "disable", "alice").exit_code == 0
    assert run(server, "user", "link", "alice", "telegram:123").exit_code == 0
    shown = httpx.get(
        f"{server}/api/v1/users/alice", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ).json()
    assert shown["roles"] == ["operator"] and shown["disabled"] is True
    assert [i["identity"] for i in shown["identities"]] == ["telegram:123"]

    assert run(server, "user", "enable", "alice").exit_code == 0
    assert run(server, "user", "unlink", "alice", "telegram:123").exit_code == 0
    listed = run(server, "user", "list", "--json")
    (alice,) = [u for u in __import__("json").loads(listed.stdout) if u["name"] == "alice"]
    assert alice["disabled"] is False and alice["identities"] == []


def test_token_create_prints_the_token_once_on_stdout(server: str) -> None:
    """token create prints only the token on stdout; it works; list and revoke find it."""
    assert run(server, "user", "add", "bob", "--role", "user").exit_code == 0
    created = run(server, "token", "create", "bob", "--name", "ci", "--expires", "12h")
    assert created.exit_code == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("nxf_") and "\n" not in token
    assert "shown this once" in created.stderr and token not in created.stderr

    me = httpx.get(f"{server}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["id"] == "bob"
    assert me.json()["scopes"] == ["audit:read", "calls:run", "skills:read"]

    token_id = token.split("_")[1]
    listed = run(server, "token", "list", "bob")
    assert listed.exit_code == 0 and token_id in listed.stdout and "active" in listed.stdout
    assert token.removeprefix(f"nxf_{token_id}_") not in listed.stdout

    revoked = run(server, "token", "revoke", f"nxf_{token_id}_")
    assert revoked.exit_code == 0, revoked.stderr
    me = httpx.get(f"{server}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401 and me.json()["error"] == "token_revoked"
    assert "revoked" in run(server, "token", "list").stdout


def test_token_create_with_scopes(server: str) -> None:
    """--scope (repeatable) sets exactly the scopes given."""
    assert run(server, "user", "add", "carol").exit_code == 0
    created = run(server, "token", "create", "carol", "-s", "skills:read", "-s", "audit:read")
    assert created.exit_code == 0, created.stderr
    me = httpx.get(
        f"{server}/api/v1/me", headers={"Authorization": f"Bearer {created.stdout.strip()}"}
    )
    assert me.json()["scopes"] == ["audit:read", "skills:read"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["user", "add", "Bad Name"], "name must be"),
        (["user", "add", "admin"], "reserved"),
        (["user", "add", "dave", "--role", "Has Space"], "not a role"),
        (["user", "roles", "dave"], "--role"),
        (["user", "link", "dave", "telegram"], "PROVIDER:SUBJECT"),
        (["user", "link", "dave", "Tele:1"], "provider must be"),
        (["user", "unlink", "dave", "telegram:"], "subject must be"),
        (["token", "create", "dave", "--scope", "calls:walk"], "not a scope"),
        (["token", "create", "dave", "--expires", "soon"], "--expires must be"),
        (["token", "create", "dave", "--name", ""], "name must be"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(server: str, args: list[str], words: str) -> None:
    """A bad argument exits 2 with one `error:` line, no traceback, and changes nothing."""
    result = run(server, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""


def test_server_refusals_exit_1_with_the_error_code(server: str) -> None:
    """Unknown user, duplicate, missing permission: exit 1 naming the server's code."""
    assert run(server, "user", "add", "erin").exit_code == 0
    cases = [
        (["user", "add", "erin"], "user_exists"),
        (["user", "disable", "ghost"], "user_not_found"),
        (["token", "create", "ghost"], "user_not_found"),
        (["token", "revoke", "0123456789abcdef"], "token_not_found"),
        (["user", "unlink", "erin", "telegram:1"], "identity_not_found"),
    ]
    for args, code in cases:
        result = run(server, *args)
        assert result.exit_code == 1, (args, result.stderr)
        assert result.stderr.startswith(f"error: {code}:"), result.stderr
    weak = run(server, "token", "create", "erin").stdout.strip()
    result = run(server, "user", "list", token=weak)
    assert result.exit_code == 1 and "insufficient_scope" in result.stderr


def test_unreachable_control_plane_exits_1() -> None:
    """No control plane at the URL: exit 1 with one line saying so."""
    result = run(f"http://127.0.0.1:{_free_port()}", "user", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the control plane")
