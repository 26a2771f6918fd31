"""End to end: the `github` and `gitlab` skills through a real `nexflow up`, in the real
sandbox, on Docker and on nsjail, against the GitHub and GitLab REST API subsets of
tests/skill_forge_fakes.py (the stack and servers are tests/e2e/conftest.py's).
"""

from __future__ import annotations

import pytest

from tests.skill_calls import failed, ok
from tests.skill_world import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-network-e2e")]


def test_github_issues_pulls_runs_and_status(skill_world: World) -> None:
    """Anonymous reads of the GitHub REST API: open issues (a PR marked as such), a draft
    pull request with its branches, runs filtered by branch, and the combined status."""
    base = {"api_url": skill_world.web.url, "repo": "acme/widget"}
    issues = ok(skill_world.stack, "github", {**base, "what": "issues"})["items"]
    assert [(i["number"], i["is_pull_request"]) for i in issues] == [(7, False), (8, True)]
    assert issues[0]["labels"] == ["bug"] and issues[0]["user"] == "ann"
    (pull,) = ok(skill_world.stack, "github", {**base, "what": "pulls"})["items"]
    assert (pull["head"], pull["base"], pull["draft"]) == ("fast", "main", True)
    runs = ok(skill_world.stack, "github", {**base, "what": "runs", "branch": "main"})["items"]
    assert [(r["id"], r["conclusion"]) for r in runs] == [(901, "success")]
    status = ok(skill_world.stack, "github", {**base, "what": "status", "ref": "main"})
    assert status["state"] == "failure" and [s["context"] for s in status["items"]] == [
        "ci/lint",
        "ci/test",
    ]
    missing = failed(skill_world.stack, "github", {**base, "repo": "acme/nope", "what": "issues"})
    assert missing["error"] == "not_found"


def test_gitlab_issues_merge_requests_and_pipelines(skill_world: World) -> None:
    """Anonymous reads of the GitLab REST API v4 with the project path URL-encoded: state
    filters, merge request branches, pipelines filtered by ref."""
    base = {"url": skill_world.web.url, "project": "acme/widget"}
    issues = ok(skill_world.stack, "gitlab", {**base, "what": "issues"})["items"]
    assert [(i["iid"], i["state"], i["author"]) for i in issues] == [(1, "opened", "ann")]
    merged = ok(skill_world.stack, "gitlab", {**base, "what": "merge_requests", "state": "merged"})
    assert [(m["iid"], m["source_branch"]) for m in merged["items"]] == [(5, "cache")]
    pipes = ok(skill_world.stack, "gitlab", {**base, "what": "pipelines", "ref": "ui"})["items"]
    assert [(p["id"], p["status"]) for p in pipes] == [(78, "failed")]
    missing = failed(
        skill_world.stack, "gitlab", {**base, "project": "acme/nope", "what": "issues"}
    )
    assert missing["error"] == "not_found"
