"""The GitHub REST API and GitLab REST API v4, as far as the `github` and `gitlab` skills
read them, for one repository each (`acme/widget`): list filters (`state`, `per_page`,
`branch`, `ref`) applied like the real services, 404 for anything else, GitHub's 403 for
a request without User-Agent and 401 for a token it does not know. `acme/private` is the
same repository behind authentication: without the right token (GitHub: `Authorization:
Bearer`, GitLab: `PRIVATE-TOKEN`) it does not exist (404), as on the real services."""

from __future__ import annotations

from typing import Any

GITHUB_TOKEN = "ghp_test_token_for_the_skill_tests"
GITLAB_TOKEN = "glpat-Xq7mR2vT9wLp4sKd8nYc"
_GH = "https://github.com/acme/widget"
_ISSUES: list[dict[str, Any]] = [
    {
        "number": 7,
        "title": "Crash on start",
        "state": "open",
        "user": {"login": "ann"},
        "labels": [{"name": "bug"}],
        "html_url": f"{_GH}/issues/7",
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-02T10:00:00Z",
    },
    {
        "number": 8,
        "title": "Faster build",
        "state": "open",
        "user": {"login": "bob"},
        "labels": [],
        "html_url": f"{_GH}/pull/8",
        "pull_request": {"url": "x"},
        "created_at": "2026-12-03T10:00:00Z",
        "updated_at": "2026-12-03T11:00:00Z",
    },
    {
        "number": 3,
        "title": "Old one",
        "state": "closed",
        "user": {"login": "cy"},
        "labels": [],
        "html_url": f"{_GH}/issues/3",
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-02T10:00:00Z",
    },
]
_PULLS = [
    {
        "number": 8,
        "title": "Faster build",
        "state": "open",
        "user": {"login": "bob"},
        "head": {"ref": "fast"},
        "base": {"ref": "main"},
        "draft": True,
        "merged_at": None,
        "html_url": f"{_GH}/pull/8",
    },
]
_RUNS = [
    {
        "id": 901,
        "name": "CI",
        "head_branch": "main",
        "head_sha": "a" * 40,
        "status": "completed",
        "conclusion": "success",
        "html_url": f"{_GH}/actions/runs/901",
        "created_at": "2026-12-04T10:00:00Z",
    },
    {
        "id": 902,
        "name": "CI",
        "head_branch": "fast",
        "head_sha": "b" * 40,
        "status": "in_progress",
        "conclusion": None,
        "html_url": f"{_GH}/actions/runs/902",
        "created_at": "2026-12-05T10:00:00Z",
    },
]
_STATUS = {
    "state": "failure",
    "sha": "a" * 40,
    "statuses": [
        {
            "context": "ci/lint",
            "state": "success",
            "description": "ok",
            "target_url": "http://ci/1",
        },
        {
            "context": "ci/test",
            "state": "failure",
            "description": "2 failed",
            "target_url": "http://ci/2",
        },
    ],
}

_GL = "https://gitlab.test/acme/widget"
_GL_ISSUES = [
    {
        "iid": 1,
        "title": "Broken link",
        "state": "opened",
        "author": {"username": "ann"},
        "labels": ["docs"],
        "web_url": f"{_GL}/-/issues/1",
        "created_at": "2026-12-01T10:00:00Z",
    },
    {
        "iid": 2,
        "title": "Done thing",
        "state": "closed",
        "author": {"username": "bob"},
        "labels": [],
        "web_url": f"{_GL}/-/issues/2",
        "created_at": "2026-11-01T10:00:00Z",
    },
]
_GL_MRS = [
    {
        "iid": 5,
        "title": "Add cache",
        "state": "merged",
        "author": {"username": "cy"},
        "labels": [],
        "source_branch": "cache",
        "target_branch": "main",
        "draft": False,
        "merged_at": "2026-12-02T10:00:00Z",
        "web_url": f"{_GL}/-/merge_requests/5",
    },
    {
        "iid": 6,
        "title": "Draft: new UI",
        "state": "opened",
        "author": {"username": "ann"},
        "labels": [],
        "source_branch": "ui",
        "target_branch": "main",
        "draft": True,
        "merged_at": None,
        "web_url": f"{_GL}/-/merge_requests/6",
    },
]
_GL_PIPELINES = [
    {
        "id": 77,
        "ref": "main",
        "sha": "c" * 40,
        "status": "success",
        "source": "push",
        "web_url": f"{_GL}/-/pipelines/77",
        "created_at": "2026-12-05T10:00:00Z",
    },
    {
        "id": 78,
        "ref": "ui",
        "sha": "d" * 40,
        "status": "failed",
        "source": "merge_request_event",
        "web_url": f"{_GL}/-/pipelines/78",
        "created_at": "2026-12-06T10:00:00Z",
    },
]


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    return items[: int(query.get("per_page", "30"))]


def _github(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
    if not headers.get("user-agent"):
        return 403, {"message": "Request forbidden by administrative rules."}
    auth = headers.get("authorization")
    if auth is not None and auth != f"Bearer {GITHUB_TOKEN}":
        return 401, {"message": "Bad credentials"}
    state = query.get("state", "open")
    base = "/repos/acme/widget"
    if path.startswith("/repos/acme/private/"):
        if auth is None:
            return 404, {"message": "Not Found"}
        path = base + path.removeprefix("/repos/acme/private")
    if path in (f"{base}/issues", f"{base}/pulls"):
        items = _ISSUES if path.endswith("issues") else _PULLS
        return 200, _page([i for i in items if state == "all" or i["state"] == state], query)
    if path == f"{base}/actions/runs":
        runs = [r for r in _RUNS if r["head_branch"] == query.get("branch", r["head_branch"])]
        return 200, {"total_count": len(runs), "workflow_runs": _page(runs, query)}
    if path.startswith(f"{base}/commits/") and path.endswith("/status"):
        return 200, _STATUS
    return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def _gitlab(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
    base = "/api/v4/projects/acme%2Fwidget"
    token = headers.get("private-token")
    if token is not None and token != GITLAB_TOKEN:
        return 401, {"message": "401 Unauthorized"}
    if path.startswith("/api/v4/projects/acme%2Fprivate/"):
        if token is None:
            return 404, {"message": "404 Project Not Found"}
        path = base + path.removeprefix("/api/v4/projects/acme%2Fprivate")
    state = query.get("state")
    if path in (f"{base}/issues", f"{base}/merge_requests"):
        items = _GL_ISSUES if path.endswith("issues") else _GL_MRS
        return 200, _page([i for i in items if state in (None, i["state"])], query)
    if path == f"{base}/pipelines":
        return 200, _page(
            [p for p in _GL_PIPELINES if query.get("ref", p["ref"]) == p["ref"]], query
        )
    return 404, {"message": "404 Project Not Found"}


def answer(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any] | None:
    """The (status, JSON) answer to a GET of `path`, or None when it is no forge path."""
    if path.startswith("/repos/"):
        return _github(path, query, headers)
    if path.startswith("/api/v4/"):
        return _gitlab(path, query, headers)
    return None
