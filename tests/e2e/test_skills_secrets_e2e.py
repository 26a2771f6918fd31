"""End to end: the skills that log in (mail-send, caldav-list/-create, github, gitlab) get
their optional secrets from the broker, on Docker and on nsjail, against local servers
that require the login (aiosmtpd with STARTTLS + AUTH, Radicale with htpasswd, the
GitHub/GitLab fakes' private repository). The policy grants the secrets to the admin
role only: the admin's call is a secrets call (approved by an operator) that succeeds,
and no form of the secret reaches the answer, the story, the database or the log; an
operator's call runs without them (an optional secret never denies) and the server
turns it away.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import REPO
from tests.secret_leaks import assert_absent, everything_stored
from tests.skill_calls import approved, finished
from tests.skill_daemons import Daemons
from tests.skill_forge_fakes import GITHUB_TOKEN, GITLAB_TOKEN
from tests.skill_http_fakes import FakeServer
from tests.skill_world import (
    CALDAV_PASSWORD,
    CALDAV_USER,
    SMTP_PASSWORD,
    SMTP_USER,
    World,
    close_world,
    open_world,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-network-e2e")]

SECRETS = {
    "smtp_username": (SMTP_USER, ["mail-send"]),
    "smtp_password": (SMTP_PASSWORD, ["mail-send"]),
    "caldav_username": (CALDAV_USER, ["caldav-list", "caldav-create"]),
    "caldav_password": (CALDAV_PASSWORD, ["caldav-list", "caldav-create"]),
    "github_token": (GITHUB_TOKEN, ["github"]),
    "gitlab_token": (GITLAB_TOKEN, ["gitlab"]),
}
"""Each secret: its value and the skills it is granted to (for the admin role)."""


def _policy(tmp: Path) -> Path:
    target = tmp / "policies"
    shutil.copytree(REPO / "policies", target)
    data = json.loads((target / "data.json").read_text())
    data["nexflow"]["config"]["secrets"]["grants"] = [
        {"secret": name, "skills": skills, "principals": [], "roles": ["admin"]}
        for name, (_, skills) in SECRETS.items()
    ]
    (target / "data.json").write_text(json.dumps(data))
    return target


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("nsjail", marks=pytest.mark.nsjail),
    ],
)
def world(
    request: pytest.FixtureRequest,
    skill_servers: tuple[FakeServer, Daemons],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[World, httpx.Client]]:
    """A stack whose policy grants the login secrets to admins, with them stored; and an
    operator's client that may run skills but is granted no secret."""
    tmp = tmp_path_factory.mktemp(f"skill-secrets-{request.param}")
    env = {"NEXFLOW_POLICY_DIR": str(_policy(tmp))}
    w = open_world(tmp, str(request.param), *skill_servers, env=env)
    for name, (value, _) in SECRETS.items():
        made = w.stack.client.post("/api/v1/secrets", json={"name": name, "value": value})
        assert made.status_code == 201, made.text
    made = w.stack.client.post("/api/v1/users", json={"name": "uma", "roles": ["operator"]})
    assert made.status_code == 201, made.text
    token = w.stack.client.post(
        "/api/v1/users/uma/tokens", json={"name": "run", "scopes": ["calls:run"]}
    )
    assert token.status_code == 201, token.text
    auth = {"Authorization": f"Bearer {token.json()['token']}"}
    with httpx.Client(base_url=w.stack.url, headers=auth, timeout=60) as uma:
        yield w, uma
    close_world(w)


def _as_admin(w: World, skill: str, value: dict[str, Any]) -> Any:
    """The admin's call: held for approval because it receives secrets, approved by the
    operator; its output (it must have succeeded)."""
    status, out = approved(w.stack, w.otto, skill, value, reason="approval_required_secrets")
    assert status == "succeeded", out
    return out


def _as_uma(w: World, uma: httpx.Client, skill: str, value: dict[str, Any]) -> dict[str, Any]:
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


def _never_leaked(w: World, *names: str) -> None:
    calls = w.stack.client.get("/api/v1/audit", params={"limit": 1000}).text
    stored = everything_stored(w.stack)
    for name in names:
        value = SECRETS[name][0]
        assert_absent(calls, value, "the audit API")
        assert_absent(stored, value, "the database or the log")


def test_github_token_opens_a_private_repository(world: tuple[World, httpx.Client]) -> None:
    """With the granted github_token the private repository's issues are read; without it
    (the operator) the fake answers 404, as GitHub does; the token never leaks."""
    w, uma = world
    value = {"api_url": w.web.url, "repo": "acme/private", "what": "issues"}
    out = _as_admin(w, "github", value)
    assert [i["number"] for i in out["items"]] == [7, 8]
    anonymous = _as_uma(w, uma, "github", value)
    assert anonymous["status"] == "failed", anonymous
    assert anonymous["result"]["output"]["error"] == "not_found"
    _never_leaked(w, "github_token")


def test_gitlab_token_opens_a_private_project(world: tuple[World, httpx.Client]) -> None:
    """With the granted gitlab_token (PRIVATE-TOKEN) the private project's merge requests
    are read; without it the fake answers 404; the token never leaks."""
    w, uma = world
    value = {"url": w.web.url, "project": "acme/private", "what": "merge_requests"}
    out = _as_admin(w, "gitlab", value)
    assert [m["iid"] for m in out["items"]] == [6]  # the open one
    anonymous = _as_uma(w, uma, "gitlab", value)
    assert anonymous["status"] == "failed", anonymous
    assert anonymous["result"]["output"]["error"] == "not_found"
    _never_leaked(w, "gitlab_token")


def test_mail_send_logs_in_after_starttls(world: tuple[World, httpx.Client]) -> None:
    """With the granted SMTP login the mail goes through STARTTLS + AUTH and arrives;
    without it the server refuses the mail; the password never leaks."""
    w, uma = world
    value = {
        "server": f"smtp://127.0.0.1:{w.daemons.smtp_auth_port}",
        "from": "bot@example.org",
        "to": ["ann@example.org"],
        "subject": "Signed in",
        "body": "Sent with a login.",
        "starttls": "require",
    }
    before = len(w.daemons.auth_mailbox.messages)
    out = _as_admin(w, "mail-send", value)
    assert out["accepted"] == ["ann@example.org"]
    assert b"Subject: Signed in" in w.daemons.auth_mailbox.messages[-1][2]
    anonymous = _as_uma(w, uma, "mail-send", value)
    assert anonymous["status"] == "failed", anonymous
    assert len(w.daemons.auth_mailbox.messages) == before + 1
    _never_leaked(w, "smtp_password")


def test_caldav_logs_in_to_create_and_list(world: tuple[World, httpx.Client]) -> None:
    """With the granted CalDAV login an event is created in, and listed from, a Radicale
    that requires it; without it the listing is refused (401); the password never leaks."""
    w, uma = world
    uid = f"secret-{w.stack.home.parent.name}"
    create = {
        "url": w.daemons.caldav_auth_url,
        "uid": uid,
        "start": "2026-12-10T10:00:00Z",
        "end": "2026-12-10T11:00:00Z",
        "summary": "Signed in",
    }
    assert _as_admin(w, "caldav-create", create)["status"] == 201
    window = {
        "url": w.daemons.caldav_auth_url,
        "start": "2026-12-10T00:00:00Z",
        "end": "2026-12-11T00:00:00Z",
    }
    listed = _as_admin(w, "caldav-list", window)
    assert uid in [e["uid"] for e in listed["events"]]
    anonymous = _as_uma(w, uma, "caldav-list", window)
    assert anonymous["status"] == "failed", anonymous
    assert "401" in json.dumps(anonymous["result"]["output"])
    _never_leaked(w, "caldav_password")
