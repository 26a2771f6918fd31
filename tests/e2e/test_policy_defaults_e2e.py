"""End to end: each shipped default rule of policies/ over HTTP, with its reason codes.

A real `nexflow up` (nsjail backend) with real accounts: the admin creates one user per
role and a token for each, and every call goes through the HTTP API as that user.
The stack's policy directory is the shipped one, copied, plus one read-write root outside
the workspace (`outside/`), which the shipped defaults allow only with approval.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import REPO, Stack, start_stack
from tests.skill_calls import approver, finished

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("policy-e2e")]

ECHO = REPO / "skills" / "echo"


def _skill(root: Path, name: str, *, author: str = "nexflow", extra: str = "") -> Path:
    """A copy of the built-in echo skill under another name, publisher and sandbox asks."""
    target = root / name
    shutil.copytree(ECHO, target)
    text = (target / "SKILL.md").read_text()
    text = text.replace("name: echo", f"name: {name}").replace(
        "author: nexflow", f"author: {author}"
    )
    text = text.replace("permissions: []\n", extra or "permissions: []\n")
    (target / "SKILL.md").write_text(text)
    for path in (root, target):
        path.chmod(0o755)
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def _policies(tmp: Path, outside: Path, **config: Any) -> Path:
    """The shipped policies, copied, with `outside` as an extra read-write root."""
    target = tmp / "policies"
    shutil.copytree(REPO / "policies", target)
    data = json.loads((target / "data.json").read_text())
    cfg = data["nexflow"]["config"]
    cfg["filesystem"]["roots"].append({"path": str(outside), "mode": "rw"})
    for key, value in config.items():
        cfg[key] = {**cfg[key], **value}
    (target / "data.json").write_text(json.dumps(data))
    return target


class Users:
    """One HTTP client per role, authenticated with a token of a real user account."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.clients: dict[str, httpx.Client] = {}

    def as_user(self, name: str, *roles: str) -> httpx.Client:
        if name not in self.clients:
            made = self.stack.client.post(
                "/api/v1/users", json={"name": name, "roles": list(roles)}
            )
            assert made.status_code == 201, made.text
            token = self.stack.client.post(f"/api/v1/users/{name}/tokens", json={"name": "e2e"})
            assert token.status_code == 201, token.text
            self.clients[name] = httpx.Client(
                base_url=self.stack.url,
                headers={"Authorization": f"Bearer {token.json()['token']}"},
                timeout=60,
            )
        return self.clients[name]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Users, Path]]:
    tmp = tmp_path_factory.mktemp("policy-e2e")
    outside = tmp / "outside"
    outside.mkdir(mode=0o777)
    outside.chmod(0o777)
    skills = tmp / "skills"
    skills.mkdir()
    _skill(skills, "vault-peek", extra="permissions: [secrets]\n")
    _skill(skills, "market-echo", author="someone")
    _skill(
        skills,
        "outside-note",
        extra=(
            "permissions: [filesystem]\n"
            f"sandbox:\n  filesystem:\n    - path: {outside}\n      mode: rw\n"
        ),
    )
    stack = start_stack(
        tmp,
        *("--sandbox", "nsjail", "--skills", str(skills)),
        *("--trust-skill", "vault-peek", "--trust-skill", "outside-note"),
        env={"NEXFLOW_POLICY_DIR": str(_policies(tmp, outside))},
    )
    users = Users(stack)
    yield stack, users, outside
    users.close()
    stack.stop()


def _call(client: httpx.Client, skill: str, value: object) -> httpx.Response:
    return client.post(f"/api/v1/skills/{skill}", json={"input": value})


def _codes(reply: httpx.Response) -> set[str]:
    return {r["code"] for r in reply.json().get("reasons", [])}


def _denied(reply: httpx.Response, *codes: str) -> None:
    assert reply.status_code == 403, reply.text
    assert reply.json()["error"] == "policy_denied", reply.text
    assert _codes(reply) == set(codes), reply.text


def _needs_approval(reply: httpx.Response, *codes: str) -> None:
    assert reply.status_code == 202, reply.text
    assert reply.json()["status"] == "pending_approval", reply.text
    assert reply.json()["approval_id"].startswith("a_"), reply.text
    assert _codes(reply) == set(codes), reply.text


def _decided(stack: Stack, call_id: str) -> dict[str, Any]:
    events = stack.client.get("/api/v1/audit", params={"call_id": call_id}).json()["events"]
    (decided,) = [e for e in events if e["action"] == "call.decided"]
    return decided


def test_viewer_runs_nothing(world: tuple[Stack, Users, Path]) -> None:
    stack, users, _ = world
    reply = _call(users.as_user("vera", "viewer"), "echo", {"message": "hi"})
    _denied(reply, "skill_not_allowed_for_role")
    decided = _decided(stack, reply.json()["call_id"])
    assert decided["actor"] == "vera" and decided["decision"] == "deny"
    assert decided["reason_codes"] == ["skill_not_allowed_for_role"]


def test_user_runs_skills_without_dangerous_permissions(world: tuple[Stack, Users, Path]) -> None:
    stack, users, _ = world
    ursula = users.as_user("ursula", "user")
    reply = _call(ursula, "echo", {"message": "hi"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["output"] == {"message": "hi"}
    (stack.workspace / "u").mkdir(exist_ok=True)
    (stack.workspace / "u" / "note.txt").write_text("mine")
    read = _call(ursula, "file-read", {"path": "u/note.txt"})
    assert read.status_code == 200, read.text
    assert read.json()["output"]["content"] == "mine"
    assert _decided(stack, reply.json()["call_id"])["decision"] == "allow"


def test_file_write_waits_for_approval_by_default(world: tuple[Stack, Users, Path]) -> None:
    """A user's file-write is held for approval (a write); once an operator approves it,
    the file appears."""
    stack, users, _ = world
    written = _call(
        users.as_user("ursula", "user"), "file-write", {"path": "approved/n.txt", "content": "m"}
    )
    assert written.status_code == 202, written.text
    assert "approval_required_skill" in {r["code"] for r in written.json()["reasons"]}
    assert not (stack.workspace / "approved" / "n.txt").exists()
    with approver(stack, "oona") as oona:
        decided = oona.post(f"/api/v1/approvals/{written.json()['approval_id']}/approve", json={})
        assert decided.status_code == 200, decided.text
    assert finished(stack, written.json()["call_id"])["status"] == "succeeded"
    assert (stack.workspace / "approved" / "n.txt").read_text() == "m"


def test_user_may_not_use_shell_or_secrets(world: tuple[Stack, Users, Path]) -> None:
    _, users, _ = world
    ursula = users.as_user("ursula", "user")
    _denied(_call(ursula, "shell-run", {"command": "id"}), "permission_not_allowed")
    _denied(_call(ursula, "vault-peek", {"message": "x"}), "permission_not_allowed")


def test_user_network_is_limited_to_the_allowlist(world: tuple[Stack, Users, Path]) -> None:
    _, users, _ = world
    reply = _call(users.as_user("ursula", "user"), "http-request", {"url": "https://example.com/"})
    _denied(reply, "network_not_allowed")
    assert "input field url asks for example.com:443" in reply.json()["reasons"][0]["message"]


def test_shell_needs_approval_for_operator_and_admin(world: tuple[Stack, Users, Path]) -> None:
    stack, users, _ = world
    for client in (users.as_user("otto", "operator"), stack.client):
        reply = _call(client, "shell-run", {"command": "id"})
        _needs_approval(reply, "approval_required_shell")
        decided = _decided(stack, reply.json()["call_id"])
        assert decided["decision"] == "approval_required"
        assert decided["reason_codes"] == ["approval_required_shell"]


def test_secrets_need_approval_and_only_admin_may_ask(world: tuple[Stack, Users, Path]) -> None:
    stack, users, _ = world
    _denied(_call(users.as_user("otto", "operator"), "vault-peek", {}), "permission_not_allowed")
    _needs_approval(_call(stack.client, "vault-peek", {}), "approval_required_secrets")


def test_writes_outside_the_workspace_need_approval(world: tuple[Stack, Users, Path]) -> None:
    _, users, outside = world
    reply = _call(users.as_user("ursula", "user"), "outside-note", {"message": "x"})
    _needs_approval(reply, "approval_required_write_outside_workspace")
    assert str(outside) in reply.json()["reasons"][0]["message"]


def test_unknown_publisher_and_new_version_need_approval(world: tuple[Stack, Users, Path]) -> None:
    stack, users, _ = world
    for client in (users.as_user("ursula", "user"), stack.client):
        reply = _call(client, "market-echo", {"message": "x"})
        _needs_approval(
            reply, "approval_required_unknown_publisher", "approval_required_new_version"
        )
    message = {r["code"]: r["message"] for r in reply.json()["reasons"]}
    assert "unverified publisher someone" in message["approval_required_unknown_publisher"]


def test_admin_runs_everything_else_and_leaves_a_trail(world: tuple[Stack, Users, Path]) -> None:
    stack, _, _ = world
    reply = stack.call("echo", {"message": "admin"})
    assert reply.status_code == 200, reply.text
    events = stack.client.get("/api/v1/audit", params={"call_id": reply.json()["call_id"]})
    actions = [e["action"] for e in reversed(events.json()["events"])]
    assert actions[:4] == ["call.requested", "call.decided", "call.dispatched", "call.finished"]
    assert {e["actor"] for e in events.json()["events"]} == {"admin"}


def test_user_rate_limit_per_minute(world: tuple[Stack, Users, Path]) -> None:
    """The shipped `user` limit is 60 calls a minute; denied calls count too."""
    _, users, _ = world
    rita = users.as_user("rita", "user")
    for _ in range(60):
        _denied(_call(rita, "shell-run", {"command": "id"}), "permission_not_allowed")
    reply = _call(rita, "echo", {"message": "one too many"})
    _denied(reply, "rate_limited")
    assert reply.json()["reasons"][0]["message"] == "60 calls in the last minute; the limit is 60"
    # Another principal is not affected.
    assert _call(users.as_user("ursula", "user"), "echo", {}).status_code == 200


def test_versions_that_ran_need_no_approval_and_counts_survive_restart(tmp_path: Path) -> None:
    """With the unknown-publisher approval turned off, only the first run of a version
    needs approval; a restart keeps both what ran and the rate counts."""
    outside = tmp_path / "outside"
    outside.mkdir()
    skills = tmp_path / "skills"
    skills.mkdir()
    folder = _skill(skills, "market-echo", author="someone")
    policies = _policies(
        tmp_path,
        outside,
        approvals={"unknown_publisher": False},
        principals={"admin": {"rate_limit": {"per_minute": 100, "per_hour": 4}}},
    )
    env = {"NEXFLOW_POLICY_DIR": str(policies)}
    base = ("--sandbox", "nsjail", "--skills", str(skills))

    stack = start_stack(tmp_path, *base, env=env)
    try:
        _needs_approval(stack.call("market-echo", {}), "approval_required_new_version")
    finally:
        stack.stop()
    # The operator vouches for it once (a stand-in for an approval, which comes later).
    stack = start_stack(tmp_path, *base, "--trust-skill", "market-echo", env=env)
    try:
        assert stack.call("market-echo", {"message": "first"}).status_code == 200
    finally:
        stack.stop()
    stack = start_stack(tmp_path, *base, env=env)
    try:
        reply = stack.call("market-echo", {"message": "again"})
        assert reply.status_code == 200, reply.text
    finally:
        stack.stop()
    text = (folder / "SKILL.md").read_text().replace("version: 1.0.0", "version: 1.0.1")
    (folder / "SKILL.md").write_text(text)
    stack = start_stack(tmp_path, *base, env=env)
    try:
        reply = stack.call("market-echo", {})
        _needs_approval(reply, "approval_required_new_version")
        assert "market-echo 1.0.1" in reply.json()["reasons"][0]["message"]
        # Four calls over four runs of the control plane: the hour's budget is spent.
        reply = stack.call("echo", {})
        _denied(reply, "rate_limited")
        assert reply.json()["reasons"][0]["message"] == "4 calls in the last hour; the limit is 4"
    finally:
        stack.stop()
