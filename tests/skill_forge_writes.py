"""The writing half of the GitHub REST API and GitLab REST API v4 fakes, as far as the
`github-write` and `gitlab-write` skills use them, for `acme/widget`: create an issue,
comment on one, open a pull/merge request. Like the real services a write needs the
token (401 without one, 401 for a wrong one), checks its fields (422 / 400) and answers
201 with the new record; what was created is kept in `created` for the tests."""

from __future__ import annotations

import json
from typing import Any

from tests.skill_forge_fakes import GITHUB_TOKEN, GITLAB_TOKEN

_GH = "https://github.com/acme/widget"
_GL = "https://gitlab.test/acme/widget"
_ISSUES = {7, 8, 3}
_BRANCHES = {"main", "fast", "cache", "ui"}


def _fields(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _github(path: str, value: dict[str, Any], created: list[dict[str, Any]]) -> tuple[int, Any]:
    base = "/repos/acme/widget"
    number = 100 + len(created)
    if path == f"{base}/issues":
        if not isinstance(value.get("title"), str) or not value["title"]:
            return 422, {"message": "Validation Failed", "errors": [{"field": "title"}]}
        record = {"kind": "issue", "number": number, **value}
        created.append(record)
        return 201, {"id": 5000 + number, "number": number, "html_url": f"{_GH}/issues/{number}"}
    if path.startswith(f"{base}/issues/") and path.endswith("/comments"):
        target = path.removeprefix(f"{base}/issues/").removesuffix("/comments")
        if not target.isdigit() or int(target) not in _ISSUES:
            return 404, {"message": "Not Found"}
        created.append({"kind": "comment", "issue": int(target), **value})
        cid = 9000 + len(created)
        return 201, {"id": cid, "html_url": f"{_GH}/issues/{target}#issuecomment-{cid}"}
    if path == f"{base}/pulls":
        head, base_ref = value.get("head"), value.get("base")
        if head not in _BRANCHES or base_ref not in _BRANCHES or head == base_ref:
            return 422, {"message": "Validation Failed", "errors": [{"field": "head"}]}
        created.append({"kind": "pull", "number": number, **value})
        return 201, {"id": 7000 + number, "number": number, "html_url": f"{_GH}/pull/{number}"}
    return 404, {"message": "Not Found"}


def _gitlab(path: str, value: dict[str, Any], created: list[dict[str, Any]]) -> tuple[int, Any]:
    base = "/api/v4/projects/acme%2Fwidget"
    iid = 100 + len(created)
    if path == f"{base}/issues":
        if not isinstance(value.get("title"), str) or not value["title"]:
            return 400, {"error": "title is missing"}
        created.append({"kind": "issue", "iid": iid, **value})
        return 201, {"id": 5000 + iid, "iid": iid, "web_url": f"{_GL}/-/issues/{iid}"}
    if path.startswith(f"{base}/issues/") and path.endswith("/notes"):
        target = path.removeprefix(f"{base}/issues/").removesuffix("/notes")
        if target not in ("1", "2"):
            return 404, {"message": "404 Issue Not Found"}
        created.append({"kind": "note", "issue": int(target), **value})
        nid = 9000 + len(created)
        return 201, {"id": nid, "body": value.get("body")}
    if path == f"{base}/merge_requests":
        source, target = value.get("source_branch"), value.get("target_branch")
        if source not in _BRANCHES or target not in _BRANCHES or source == target:
            return 400, {"message": ["source_branch is invalid"]}
        created.append({"kind": "merge_request", "iid": iid, **value})
        return 201, {"id": 7000 + iid, "iid": iid, "web_url": f"{_GL}/-/merge_requests/{iid}"}
    return 404, {"message": "404 Not Found"}


def write(
    path: str, body: bytes, headers: dict[str, str], created: list[dict[str, Any]]
) -> tuple[int, Any] | None:
    """The (status, JSON) answer to a POST of `path`, or None when it is no forge path."""
    if path.startswith("/repos/"):
        auth = headers.get("authorization")
        if auth is None:
            return 401, {"message": "Requires authentication"}
        if auth != f"Bearer {GITHUB_TOKEN}":
            return 401, {"message": "Bad credentials"}
        value = _fields(body)
        return (
            (400, {"message": "Problems parsing JSON"})
            if value is None
            else _github(path, value, created)
        )
    if path.startswith("/api/v4/"):
        if headers.get("private-token") != GITLAB_TOKEN:
            return 401, {"message": "401 Unauthorized"}
        value = _fields(body)
        return (
            (400, {"error": "body is not JSON"}) if value is None else _gitlab(path, value, created)
        )
    return None
