#!/usr/bin/env python3
"""alert-silence: create or expire an Alertmanager silence through its v2 API (stdin:
JSON input, stdout: JSON result)."""

import datetime
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


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


def matchers(raw):
    if not isinstance(raw, list) or not raw or len(raw) > 32:
        fail("bad_input", "'matchers' must be a list of 1 to 32 matchers")
    out = []
    for m in raw:
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("name"), str)
            or not isinstance(m.get("value"), str)
        ):
            fail("bad_input", "each matcher needs 'name' and 'value' strings")
        out.append(
            {
                "name": m["name"],
                "value": m["value"],
                "isRegex": m.get("is_regex") is True,
                "isEqual": m.get("is_equal") is not False,
            }
        )
    if not any(not m["isRegex"] and m["isEqual"] and m["value"] for m in out):
        fail("too_broad", "at least one matcher must be an exact, non-empty equal match")
    return out


def answer_error(status, body):
    return f"Alertmanager answered {status}: {body[:500].decode('utf-8', 'replace')}"


def create(base, data):
    for key in ("comment", "created_by"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            fail("bad_input", f"'{key}' is required to create a silence")
    minutes = data.get("duration_minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 10080:
        fail("bad_input", "'duration_minutes' must be an integer from 1 to 10080")
    now = datetime.datetime.now(datetime.UTC)
    starts, ends = now, now + datetime.timedelta(minutes=minutes)
    body = {
        "matchers": matchers(data.get("matchers")),
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": ends.isoformat().replace("+00:00", "Z"),
        "createdBy": data["created_by"],
        "comment": data["comment"],
    }
    status, _h, answer, _cut = fetch(
        f"{base}/api/v2/silences",
        method="POST",
        body=json.dumps(body).encode(),
        max_bytes=65536,
        headers={"Content-Type": "application/json"},
    )
    if status != 200:
        fail("silence_failed", answer_error(status, answer))
    try:
        silence_id = json.loads(answer)["silenceID"]
    except (ValueError, KeyError, TypeError):
        fail("bad_answer", "the answer carries no silenceID")
    if not isinstance(silence_id, str) or not _ID.match(silence_id):
        fail("bad_answer", "the silenceID is not an id")
    return {
        "action": "create",
        "silence_id": silence_id,
        "starts_at": body["startsAt"],
        "ends_at": body["endsAt"],
    }


def expire(base, data):
    silence_id = data.get("silence_id")
    if not isinstance(silence_id, str) or not _ID.match(silence_id):
        fail("bad_input", "'silence_id' must be a silence id")
    status, _h, answer, _cut = fetch(
        f"{base}/api/v2/silence/{urllib.parse.quote(silence_id)}", method="DELETE", max_bytes=65536
    )
    if status == 404:
        fail("not_found", f"no silence {silence_id}")
    if status != 200:
        fail("silence_failed", answer_error(status, answer))
    return {"action": "expire", "silence_id": silence_id}


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
    action = data.get("action")
    if action not in ("create", "expire"):
        fail("bad_input", "'action' must be create or expire")
    result = create(base, data) if action == "create" else expire(base, data)
    print(f"alert-silence: {action} {result['silence_id']}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
