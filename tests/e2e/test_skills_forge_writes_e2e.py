"""End to end: `github-write` and `gitlab-write` through a real `nexflow up`, in the real
sandbox, on Docker and on nsjail, against the writing half of the GitHub and GitLab
fakes (tests/skill_forge_writes.py), which require the token. The admin, granted the
token, waits for an operator's approval and then creates an issue, a comment and a
pull/merge request; a rejected one fails with the service's reason; a principal not
granted the token is denied before anything runs; the token never leaks.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.skill_calls import approved
from tests.skill_secret_world import as_admin, never_leaked
from tests.skill_world import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-network-e2e")]


def _created(w: World, kind: str) -> dict[str, Any]:
    return [c for c in w.web.fakes.forge_created if c["kind"] == kind][-1]


def _denied_without_grant(uma: httpx.Client, skill: str, value: dict[str, Any]) -> None:
    reply = uma.post(f"/api/v1/skills/{skill}", json={"input": value})
    assert reply.status_code == 403, reply.text
    assert "secret_not_granted" in [r["code"] for r in reply.json()["reasons"]]


def test_github_write_issue_comment_and_pull(secret_world: tuple[World, httpx.Client]) -> None:
    """Approved: an issue (title, labels), a comment on #7 and a draft pull request are
    created with the token; a pull from main to main is rejected (422); an operator
    without the grant is denied secret_not_granted; the token never leaks."""
    w, uma = secret_world
    base = {"api_url": w.web.url, "repo": "acme/widget"}
    issue = as_admin(
        w, "github-write", {**base, "action": "issue", "title": "Crash", "labels": ["bug"]}
    )
    assert issue["url"].endswith(f"/issues/{issue['number']}")
    assert _created(w, "issue")["labels"] == ["bug"]
    comment = as_admin(w, "github-write", {**base, "action": "comment", "number": 7, "body": "+1"})
    assert comment["number"] == 7 and _created(w, "comment")["body"] == "+1"
    pull = {**base, "action": "pull", "title": "Faster", "head": "fast", "base": "main"}
    made = as_admin(w, "github-write", {**pull, "draft": True})
    assert made["url"].endswith(f"/pull/{made['number']}") and _created(w, "pull")["draft"]
    status, out = approved(
        w.stack, w.otto, "github-write", {**pull, "head": "main"}, "approval_required_skill"
    )
    assert status == "failed" and out["error"] == "rejected", out
    _denied_without_grant(uma, "github-write", {**base, "action": "issue", "title": "x"})
    never_leaked(w, "github_token")


def test_gitlab_write_issue_note_and_merge_request(
    secret_world: tuple[World, httpx.Client],
) -> None:
    """Approved: an issue, a note on issue 1 and a merge request are created with
    PRIVATE-TOKEN; a note on an unknown issue is not_found; an operator without the grant
    is denied secret_not_granted; the token never leaks."""
    w, uma = secret_world
    base = {"url": w.web.url, "project": "acme/widget"}
    issue = as_admin(w, "gitlab-write", {**base, "action": "issue", "title": "Broken"})
    assert issue["url"].endswith(f"/-/issues/{issue['iid']}")
    note = as_admin(w, "gitlab-write", {**base, "action": "comment", "iid": 1, "body": "seen"})
    assert note["iid"] == 1 and _created(w, "note")["body"] == "seen"
    mr = {
        **base,
        "action": "merge_request",
        "title": "Cache",
        "source_branch": "cache",
        "target_branch": "main",
    }
    made = as_admin(w, "gitlab-write", mr)
    assert made["url"].endswith(f"/-/merge_requests/{made['iid']}")
    assert _created(w, "merge_request")["source_branch"] == "cache"
    status, out = approved(
        w.stack,
        w.otto,
        "gitlab-write",
        {**base, "action": "comment", "iid": 99, "body": "x"},
        "approval_required_skill",
    )
    assert status == "failed" and out["error"] == "not_found", out
    _denied_without_grant(uma, "gitlab-write", {**base, "action": "issue", "title": "x"})
    never_leaked(w, "gitlab_token")
