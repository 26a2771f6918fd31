#!/usr/bin/env python3
"""gitlab-write: create an issue, comment on an issue, or open a merge request through
GitLab's REST API v4 with the granted token (stdin: JSON input, stdout: JSON result).
Every field of the answer is type-checked and cut to a bounded length."""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_ANSWER = 1 << 20
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


def need(data, key, limit):
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        fail("bad_input", f"'{key}' must be a non-empty string of at most {limit} characters")
    return value


def request_of(data):
    """(path under the project, JSON body) of the write `data` asks for."""
    action = data.get("action")
    if action == "issue":
        body = {"title": need(data, "title", 255), "description": text(data.get("body"), 1 << 20)}
        labels = data.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            fail("bad_input", "'labels' must be a list of strings")
        if labels:
            body["labels"] = ",".join(labels[:20])
        return "/issues", body
    if action == "comment":
        iid = data.get("iid")
        if isinstance(iid, bool) or not isinstance(iid, int) or iid < 1:
            fail("bad_input", "'iid' must be the issue's number in the project")
        return f"/issues/{iid}/notes", {"body": need(data, "body", 1 << 20)}
    if action == "merge_request":
        body = {
            "title": need(data, "title", 255),
            "source_branch": need(data, "source_branch", 255),
            "target_branch": need(data, "target_branch", 255),
            "description": text(data.get("body"), 1 << 20),
        }
        return "/merge_requests", body
    fail("bad_input", "'action' must be issue, comment or merge_request")
    return "", {}


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
    project = data.get("project")
    if not isinstance(project, str) or len(project) > 1024 or not _PROJECT.match(project):
        fail("bad_input", "'project' must be group/name")
    path, body = request_of(data)
    token = os.environ.get("NEXFLOW_SECRET_GITLAB_TOKEN")
    if not token:
        fail("no_token", "the secret gitlab_token was not delivered (grant and store it)")
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": "nexflow-gitlab-skill",
        "PRIVATE-TOKEN": token,
    }
    encoded = urllib.parse.quote(project, safe="")
    url = f"{base}/api/v4/projects/{encoded}{path}"
    payload = json.dumps(body).encode()
    status, _h, answer, _cut = fetch(
        url, method="POST", body=payload, headers=headers, max_bytes=MAX_ANSWER
    )
    try:
        value = json.loads(answer)
    except ValueError:
        fail("bad_answer", f"{base} answered {status} without JSON")
    if not isinstance(value, dict):
        fail("bad_answer", f"{base} answered {status} with something that is not an object")
    if status != 201:
        code = {400: "rejected", 401: "unauthorized", 403: "forbidden", 404: "not_found"}
        message = value.get("message", value.get("error"))
        fail(code.get(status, "api_failed"), f"GitLab answered {status}: {text(str(message), 500)}")
    iid = value.get("iid")
    out = {
        "action": data["action"],
        "id": value.get("id") if isinstance(value.get("id"), int) else 0,
        "iid": iid if isinstance(iid, int) else data.get("iid"),
        "url": text(value.get("web_url"), 2048),
    }
    print(f"gitlab-write: {data['action']} in {project} -> {out['id']}", file=sys.stderr)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
