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

import httpx
import pytest

from tests.skill_secret_world import as_admin, as_uma, never_leaked
from tests.skill_world import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-network-e2e")]


def test_github_token_opens_a_private_repository(secret_world: tuple[World, httpx.Client]) -> None:
    """With the granted github_token the private repository's issues are read; without it
    (the operator) the fake answers 404, as GitHub does; the token never leaks."""
    w, uma = secret_world
    value = {"api_url": w.web.url, "repo": "acme/private", "what": "issues"}
    out = as_admin(w, "github", value)
    assert [i["number"] for i in out["items"]] == [7, 8]
    anonymous = as_uma(w, uma, "github", value)
    assert anonymous["status"] == "failed", anonymous
    assert anonymous["result"]["output"]["error"] == "not_found"
    never_leaked(w, "github_token")


def test_gitlab_token_opens_a_private_project(secret_world: tuple[World, httpx.Client]) -> None:
    """With the granted gitlab_token (PRIVATE-TOKEN) the private project's merge requests
    are read; without it the fake answers 404; the token never leaks."""
    w, uma = secret_world
    value = {"url": w.web.url, "project": "acme/private", "what": "merge_requests"}
    out = as_admin(w, "gitlab", value)
    assert [m["iid"] for m in out["items"]] == [6]  # the open one
    anonymous = as_uma(w, uma, "gitlab", value)
    assert anonymous["status"] == "failed", anonymous
    assert anonymous["result"]["output"]["error"] == "not_found"
    never_leaked(w, "gitlab_token")


def test_mail_send_logs_in_after_starttls(secret_world: tuple[World, httpx.Client]) -> None:
    """With the granted SMTP login the mail goes through STARTTLS + AUTH and arrives;
    without it the server refuses the mail; the password never leaks."""
    w, uma = secret_world
    value = {
        "server": f"smtp://127.0.0.1:{w.daemons.smtp_auth_port}",
        "from": "bot@example.org",
        "to": ["ann@example.org"],
        "subject": "Signed in",
        "body": "Sent with a login.",
        "starttls": "require",
    }
    before = len(w.daemons.auth_mailbox.messages)
    out = as_admin(w, "mail-send", value)
    assert out["accepted"] == ["ann@example.org"]
    assert b"Subject: Signed in" in w.daemons.auth_mailbox.messages[-1][2]
    anonymous = as_uma(w, uma, "mail-send", value)
    assert anonymous["status"] == "failed", anonymous
    assert len(w.daemons.auth_mailbox.messages) == before + 1
    never_leaked(w, "smtp_password")


def test_caldav_logs_in_to_create_and_list(secret_world: tuple[World, httpx.Client]) -> None:
    """With the granted CalDAV login an event is created in, and listed from, a Radicale
    that requires it; without it the listing is refused (401); the password never leaks."""
    w, uma = secret_world
    uid = f"secret-{w.stack.home.parent.name}"
    create = {
        "url": w.daemons.caldav_auth_url,
        "uid": uid,
        "start": "2026-12-10T10:00:00Z",
        "end": "2026-12-10T11:00:00Z",
        "summary": "Signed in",
    }
    assert as_admin(w, "caldav-create", create)["status"] == 201
    window = {
        "url": w.daemons.caldav_auth_url,
        "start": "2026-12-10T00:00:00Z",
        "end": "2026-12-11T00:00:00Z",
    }
    listed = as_admin(w, "caldav-list", window)
    assert uid in [e["uid"] for e in listed["events"]]
    anonymous = as_uma(w, uma, "caldav-list", window)
    assert anonymous["status"] == "failed", anonymous
    assert "401" in json.dumps(anonymous["result"]["output"])
    never_leaked(w, "caldav_password")
