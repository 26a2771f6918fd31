#!/usr/bin/env python3
"""github: read issues, pull requests, workflow runs or a commit status through GitHub's
REST API (stdin: JSON input, stdout: JSON result). Answers are read up to 8 MiB and every
field taken from them is type-checked and cut to a bounded length."""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_ANSWER = 8 << 20
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def fetch(url, *, method="GET", body=None, headers=None, timeout=20.0, max_bytes=1 << 20):
    """One request through the sandbox's egress proxy: (status, headers, body, truncated).
    A refusal by the proxy (marked X-Nexflow-Egress) fails as egress_refused, never as an
    answer of the destination; a 4xx/5xx answer is returned like any other."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)  # noqa: S310
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        response = exc
    except urllib.error.URLError as exc:
        text = str(exc.reason)
        if "Tunnel connection failed" in text:
            fail("egress_refused", f"the egress proxy refused the connection: {text}")
        fail("request_failed", f"{type(exc.reason).__name__}: {text}")
    except (TimeoutError, OSError, ValueError) as exc:
        fail("request_failed", f"{type(exc).__name__}: {exc}")
    with response:
        refused = response.headers.get("X-Nexflow-Egress")
        if refused:
            fail("egress_refused", f"the egress proxy refused {response.url}: {refused}")
        try:
            data = response.read(max_bytes + 1)
        except (TimeoutError, OSError) as exc:
            fail("request_failed", f"reading the answer: {type(exc).__name__}: {exc}")
    return response.status, response.headers, data[:max_bytes], len(data) > max_bytes


def text(value, limit=1000):
    return value[:limit] if isinstance(value, str) else ""


def login(value):
    return text(value.get("login"), 100) if isinstance(value, dict) else ""


def issue(item):
    return {
        "number": item.get("number") if isinstance(item.get("number"), int) else 0,
        "title": text(item.get("title")),
        "state": text(item.get("state"), 20),
        "user": login(item.get("user")),
        "labels": [
            text(lab.get("name"), 100) for lab in item.get("labels") or [] if isinstance(lab, dict)
        ][:20],
        "is_pull_request": "pull_request" in item,
        "url": text(item.get("html_url"), 2048),
        "created_at": text(item.get("created_at"), 40),
        "updated_at": text(item.get("updated_at"), 40),
    }


def branch_of(item, side):
    value = item.get(side)
    return text(value.get("ref"), 255) if isinstance(value, dict) else ""


def pull(item):
    return {
        "number": item.get("number") if isinstance(item.get("number"), int) else 0,
        "title": text(item.get("title")),
        "state": text(item.get("state"), 20),
        "user": login(item.get("user")),
        "head": branch_of(item, "head"),
        "base": branch_of(item, "base"),
        "draft": item.get("draft") is True,
        "merged_at": text(item.get("merged_at"), 40) or None,
        "url": text(item.get("html_url"), 2048),
    }


def run(item):
    return {
        "id": item.get("id") if isinstance(item.get("id"), int) else 0,
        "name": text(item.get("name"), 255),
        "branch": text(item.get("head_branch"), 255),
        "sha": text(item.get("head_sha"), 64),
        "status": text(item.get("status"), 40),
        "conclusion": text(item.get("conclusion"), 40) or None,
        "url": text(item.get("html_url"), 2048),
        "created_at": text(item.get("created_at"), 40),
    }


def status_item(item):
    return {
        "context": text(item.get("context"), 255),
        "state": text(item.get("state"), 40),
        "description": text(item.get("description")),
        "url": text(item.get("target_url"), 2048),
    }


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("api_url"), str):
        fail("bad_input", "input must be an object with an 'api_url' string")
    base = data["api_url"].rstrip("/")
    if not base.lower().startswith(("http://", "https://")):
        fail("bad_input", "'api_url' must be an http:// or https:// URL")
    repo, what = data.get("repo"), data.get("what")
    if not isinstance(repo, str) or not _REPO.match(repo):
        fail("bad_input", "'repo' must be owner/name")
    limit = data.get("limit", 30)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        fail("bad_input", "'limit' must be an integer from 1 to 100")
    state = data.get("state", "open")
    if state not in ("open", "closed", "all"):
        fail("bad_input", "'state' must be open, closed or all")
    query = {"per_page": str(limit)}
    if what in ("issues", "pulls"):
        path, query["state"] = f"/repos/{repo}/{what}", state
    elif what == "runs":
        path = f"/repos/{repo}/actions/runs"
        if data.get("branch"):
            query["branch"] = str(data["branch"])
    elif what == "status":
        ref = urllib.parse.quote(str(data.get("ref") or "HEAD"), safe="")
        path = f"/repos/{repo}/commits/{ref}/status"
    else:
        fail("bad_input", "'what' must be issues, pulls, runs or status")
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "nexflow-github-skill",
    }
    token = os.environ.get("NEXFLOW_SECRET_GITHUB_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{base}{path}?{urllib.parse.urlencode(query)}"
    status, _h, answer, cut = fetch(url, headers=headers, max_bytes=MAX_ANSWER)
    if cut:
        fail("too_large", f"the answer is larger than {MAX_ANSWER} bytes")
    try:
        value = json.loads(answer)
    except ValueError:
        fail("bad_answer", f"{base} answered {status} without JSON")
    if status != 200:
        message = value.get("message") if isinstance(value, dict) else None
        fail(
            "not_found" if status == 404 else "api_failed",
            f"GitHub answered {status}: {text(message, 500)}",
        )
    if what == "runs":
        runs = value.get("workflow_runs") if isinstance(value, dict) else None
        out = {"what": what, "items": [run(r) for r in (runs or []) if isinstance(r, dict)][:limit]}
    elif what == "status":
        if not isinstance(value, dict):
            fail("bad_answer", "the status answer is not an object")
        items = [status_item(s) for s in value.get("statuses") or [] if isinstance(s, dict)][:limit]
        out = {"what": what, "state": text(value.get("state"), 40), "items": items}
    else:
        shape = issue if what == "issues" else pull
        out = {
            "what": what,
            "items": [shape(i) for i in value if isinstance(i, dict)][:limit]
            if isinstance(value, list)
            else [],
        }
    print(f"github: {what} of {repo}, {len(out['items'])} item(s)", file=sys.stderr)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
