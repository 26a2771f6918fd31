#!/usr/bin/env python3
"""home-assistant-service: call one service of a Home Assistant instance (turn a light on,
run a script) through its REST API with the granted token (stdin: JSON input, stdout:
JSON result: the states the call changed)."""

import json
import os
import re
import sys
import urllib.error
import urllib.request

MAX_ANSWER = 4 << 20
_DOMAIN = re.compile(r"^[a-z0-9_]{1,64}$")
_SERVICE = re.compile(r"^[a-z0-9_]{1,64}$")


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


def request(data, path, payload=None):
    """POST `payload` (or GET) `path` of the instance in `data` with the granted token;
    the answer as JSON (fails on anything but 200)."""
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        fail("bad_input", "input must be an object with a 'url' string")
    base = data["url"].rstrip("/")
    if not base.lower().startswith(("http://", "https://")):
        fail("bad_input", "'url' must be an http:// or https:// URL")
    token = os.environ.get("NEXFLOW_SECRET_HOME_ASSISTANT_TOKEN")
    if not token:
        fail("no_token", "the secret home_assistant_token was not delivered (grant and store it)")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = None if payload is None else json.dumps(payload).encode()
    method = "GET" if payload is None else "POST"
    status, _h, answer, cut = fetch(
        base + path, method=method, body=body, headers=headers, max_bytes=MAX_ANSWER
    )
    if cut:
        fail("too_large", f"the answer is larger than {MAX_ANSWER} bytes")
    if status != 200:
        codes = {400: "rejected", 401: "unauthorized", 403: "forbidden", 404: "not_found"}
        said = text(answer.decode("utf-8", "replace"), 300)
        fail(codes.get(status, "api_failed"), f"Home Assistant answered {status}: {said}")
    try:
        return json.loads(answer)
    except ValueError:
        fail("bad_answer", f"{base} answered {status} without JSON")


def state(item):
    attributes = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
    return {
        "entity_id": text(item.get("entity_id"), 255),
        "state": text(item.get("state"), 255),
        "name": text(attributes.get("friendly_name"), 255),
        "unit": text(attributes.get("unit_of_measurement"), 40),
        "last_changed": text(item.get("last_changed"), 40),
    }


def read_input():
    try:
        return json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")


def main():
    data = read_input()
    domain, service = data.get("domain"), data.get("service")
    if not isinstance(domain, str) or not _DOMAIN.match(domain):
        fail("bad_input", "'domain' must be a domain such as light")
    if not isinstance(service, str) or not _SERVICE.match(service):
        fail("bad_input", "'service' must be a service name such as turn_on")
    payload = data.get("data", {})
    if not isinstance(payload, dict):
        fail("bad_input", "'data' must be an object")
    value = request(data, f"/api/services/{domain}/{service}", payload)
    if not isinstance(value, list):
        fail("bad_answer", "the service answer is not a list of states")
    changed = [state(i) for i in value if isinstance(i, dict)][:200]
    print(f"home-assistant-service: {domain}.{service}, {len(changed)} changed", file=sys.stderr)
    print(json.dumps({"service": f"{domain}.{service}", "changed": changed}, ensure_ascii=False))


if __name__ == "__main__":
    main()
