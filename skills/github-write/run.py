#!/usr/bin/env python3
"""github-write: create an issue, comment on an issue or pull request, or open a pull
request through GitHub's REST API with the granted token (stdin: JSON input, stdout:
JSON result). Every field of the answer is type-checked and cut to a bounded length."""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_ANSWER = 1 << 20
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


def need(data, key, limit):
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        fail("bad_input", f"'{key}' must be a non-empty string of at most {limit} characters")
    return value


def request_of(data, repo):
    """(path, JSON body) of the write `data` asks for."""
    action = data.get("action")
    if action == "issue":
        body = {"title": need(data, "title", 256), "body": text(data.get("body"), 65536)}
        labels = data.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            fail("bad_input", "'labels' must be a list of strings")
        if labels:
            body["labels"] = labels[:20]
        return f"/repos/{repo}/issues", body
    if action == "comment":
        number = data.get("number")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            fail("bad_input", "'number' must be the issue or pull request number")
        return f"/repos/{repo}/issues/{number}/comments", {"body": need(data, "body", 65536)}
    if action == "pull":
        body = {
            "title": need(data, "title", 256),
            "head": need(data, "head", 255),
            "base": need(data, "base", 255),
            "body": text(data.get("body"), 65536),
            "draft": data.get("draft") is True,
        }
        return f"/repos/{repo}/pulls", body
    fail("bad_input", "'action' must be issue, comment or pull")
    return "", {}


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
    repo = data.get("repo")
    if not isinstance(repo, str) or not _REPO.match(repo):
        fail("bad_input", "'repo' must be owner/name")
    path, body = request_of(data, repo)
    token = os.environ.get("NEXFLOW_SECRET_GITHUB_TOKEN")
    if not token:
        fail("no_token", "the secret github_token was not delivered (grant and store it)")
    headers = {
        "Accept": "application/vnd.github+json",
        "Content-Type": "application/json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "nexflow-github-skill",
        "Authorization": f"Bearer {token}",
    }
    payload = json.dumps(body).encode()
    status, _h, answer, _cut = fetch(
        base + path, method="POST", body=payload, headers=headers, max_bytes=MAX_ANSWER
    )
    try:
        value = json.loads(answer)
    except ValueError:
        fail("bad_answer", f"{base} answered {status} without JSON")
    if not isinstance(value, dict):
        fail("bad_answer", f"{base} answered {status} with something that is not an object")
    if status != 201:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 422: "rejected"}
        message = text(value.get("message"), 500)
        fail(code.get(status, "api_failed"), f"GitHub answered {status}: {message}")
    number = value.get("number")
    out = {
        "action": data["action"],
        "id": value.get("id") if isinstance(value.get("id"), int) else 0,
        "number": number if isinstance(number, int) else data.get("number"),
        "url": text(value.get("html_url"), 2048),
    }
    print(f"github-write: {data['action']} in {repo} -> {out['url']}", file=sys.stderr)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
