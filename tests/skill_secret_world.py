"""The world the login skills are tested in: a stack whose policy grants the login secrets
(SMTP, IMAP, CalDAV, GitHub, GitLab, Home Assistant, git over HTTP) to the admin role only, with
them stored, and an operator who may run skills but is granted no secret
(tests/e2e/conftest.py's `secret_world`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.harness import REPO
from tests.secret_leaks import assert_absent, everything_stored
from tests.skill_calls import approved, finished
from tests.skill_forge_fakes import GITHUB_TOKEN, GITLAB_TOKEN
from tests.skill_git_server import GIT_PASSWORD, GIT_USER
from tests.skill_ha_fake import HA_TOKEN
from tests.skill_imap_server import IMAP_PASSWORD, IMAP_USER
from tests.skill_world import CALDAV_PASSWORD, CALDAV_USER, SMTP_PASSWORD, SMTP_USER, World

SECRETS = {
    "smtp_username": (SMTP_USER, ["mail-send"]),
    "smtp_password": (SMTP_PASSWORD, ["mail-send"]),
    "caldav_username": (CALDAV_USER, ["caldav-list", "caldav-create"]),
    "caldav_password": (CALDAV_PASSWORD, ["caldav-list", "caldav-create"]),
    "github_token": (GITHUB_TOKEN, ["github", "github-write"]),
    "gitlab_token": (GITLAB_TOKEN, ["gitlab", "gitlab-write"]),
    "home_assistant_token": (HA_TOKEN, ["home-assistant", "home-assistant-service"]),
    "imap_username": (IMAP_USER, ["mail-read"]),
    "imap_password": (IMAP_PASSWORD, ["mail-read"]),
    "git_username": (GIT_USER, ["git-basic", "git-write"]),
    "git_password": (GIT_PASSWORD, ["git-basic", "git-write"]),
}
"""Each secret: its value and the skills it is granted to (for the admin role)."""


def secret_policy(tmp: Path) -> Path:
    """A copy of the shipped policies granting SECRETS to the admin role."""
    target = tmp / "policies"
    shutil.copytree(REPO / "policies", target)
    data = json.loads((target / "data.json").read_text())
    data["nexflow"]["config"]["secrets"]["grants"] = [
        {"secret": name, "skills": skills, "principals": [], "roles": ["admin"]}
        for name, (_, skills) in SECRETS.items()
    ]
    (target / "data.json").write_text(json.dumps(data))
    return target


def as_admin(w: World, skill: str, value: dict[str, Any]) -> Any:
    """The admin's call: held for approval because it receives secrets, approved by the
    operator; its output (it must have succeeded)."""
    status, out = approved(w.stack, w.otto, skill, value, reason="approval_required_secrets")
    assert status == "succeeded", out
    return out


def as_uma(w: World, uma: httpx.Client, skill: str, value: dict[str, Any]) -> dict[str, Any]:
    """The operator's call (approved by otto when the skill needs it): its ended story."""
    reply = uma.post(f"/api/v1/skills/{skill}", json={"input": value})
    if reply.status_code == 202:
        asked = reply.json()
        assert "approval_required_secrets" not in {r["code"] for r in asked["reasons"]}
        decided = w.otto.post(f"/api/v1/approvals/{asked['approval_id']}/approve", json={})
        assert decided.status_code == 200, decided.text
        return finished(w.stack, asked["call_id"])
    assert reply.status_code == 200, reply.text
    return finished(w.stack, reply.json()["call_id"])


def open_operator(w: World) -> httpx.Client:
    """The operator uma's client (scope calls:run), granted no secret by the policy."""
    made = w.stack.client.post("/api/v1/users", json={"name": "uma", "roles": ["operator"]})
    assert made.status_code == 201, made.text
    token = w.stack.client.post(
        "/api/v1/users/uma/tokens", json={"name": "run", "scopes": ["calls:run"]}
    )
    assert token.status_code == 201, token.text
    auth = {"Authorization": f"Bearer {token.json()['token']}"}
    return httpx.Client(base_url=w.stack.url, headers=auth, timeout=60)


def store_secrets(w: World) -> None:
    """Store every secret of SECRETS in the stack."""
    for name, (value, _) in SECRETS.items():
        made = w.stack.client.post("/api/v1/secrets", json={"name": name, "value": value})
        assert made.status_code == 201, made.text


def never_leaked(w: World, *names: str) -> None:
    """No form of the named secrets is in the audit API, the database or the log."""
    calls = w.stack.client.get("/api/v1/audit", params={"limit": 1000}).text
    stored = everything_stored(w.stack)
    for name in names:
        value = SECRETS[name][0]
        assert_absent(calls, value, "the audit API")
        assert_absent(stored, value, "the database or the log")
