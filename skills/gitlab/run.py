#!/usr/bin/env python3
"""gitlab: read issues, merge requests or pipelines through GitLab's REST API v4 (stdin:
JSON input, stdout: JSON result). Answers are read up to 8 MiB and every field taken
from them is type-checked and cut to a bounded length."""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_ANSWER = 8 << 20
_PROJECT = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")


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


def number(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def author(item):
    who = item.get("author")
    return text(who.get("username"), 100) if isinstance(who, dict) else ""


def issue(item):
    return {
        "iid": number(item.get("iid")),
        "title": text(item.get("title")),
        "state": text(item.get("state"), 20),
        "author": author(item),
        "labels": [text(lab, 100) for lab in item.get("labels") or [] if isinstance(lab, str)][:20],
        "url": text(item.get("web_url"), 2048),
        "created_at": text(item.get("created_at"), 40),
        "updated_at": text(item.get("updated_at"), 40),
    }


def merge_request(item):
    return {
        **issue(item),
        "source_branch": text(item.get("source_branch"), 255),
        "target_branch": text(item.get("target_branch"), 255),
        "draft": item.get("draft") is True,
        "merged_at": text(item.get("merged_at"), 40) or None,
    }


def pipeline(item):
    return {
        "id": number(item.get("id")),
        "ref": text(item.get("ref"), 255),
        "sha": text(item.get("sha"), 64),
        "status": text(item.get("status"), 40),
        "source": text(item.get("source"), 40),
        "url": text(item.get("web_url"), 2048),
        "created_at": text(item.get("created_at"), 40),
    }


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        fail("bad_input", "input must be an object with a 'url' string")
    base = data["url"].rstrip("/")
    if not base.lower().startswith(("http://", "https://")):
        fail("bad_input", "'url' must be an http:// or https:// URL")
    project, what = data.get("project"), data.get("what")
    if not isinstance(project, str) or len(project) > 1024 or not _PROJECT.match(project):
        fail("bad_input", "'project' must be group/name")
    limit = data.get("limit", 20)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        fail("bad_input", "'limit' must be an integer from 1 to 100")
    shapes = {"issues": issue, "merge_requests": merge_request, "pipelines": pipeline}
    if what not in shapes:
        fail("bad_input", "'what' must be issues, merge_requests or pipelines")
    query = {"per_page": str(limit)}
    if what != "pipelines":
        state = data.get("state", "opened")
        if state not in ("opened", "closed", "merged", "all"):
            fail("bad_input", "'state' must be opened, closed, merged or all")
        if state != "all":
            query["state"] = state
    elif data.get("ref"):
        query["ref"] = str(data["ref"])
    headers = {"Accept": "application/json", "User-Agent": "nexflow-gitlab-skill"}
    token = os.environ.get("NEXFLOW_SECRET_GITLAB_TOKEN")
    if token:
        headers["PRIVATE-TOKEN"] = token
    encoded = urllib.parse.quote(project, safe="")
    url = f"{base}/api/v4/projects/{encoded}/{what}?{urllib.parse.urlencode(query)}"
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
            f"GitLab answered {status}: {str(message)[:500]}",
        )
    if not isinstance(value, list):
        fail("bad_answer", "the answer is not a list")
    items = [shapes[what](i) for i in value if isinstance(i, dict)][:limit]
    print(f"gitlab: {what} of {project}, {len(items)} item(s)", file=sys.stderr)
    print(json.dumps({"what": what, "items": items}, ensure_ascii=False))


if __name__ == "__main__":
    main()
