#!/usr/bin/env python3
"""prometheus-query: PromQL through Prometheus' HTTP API (stdin: JSON input, stdout: JSON
result). The answer is read up to 8 MiB and must be Prometheus' JSON envelope."""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_ANSWER = 8 << 20


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


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        fail("bad_input", "input must be an object with a 'url' string")
    if not isinstance(data.get("query"), str) or not data["query"].strip():
        fail("bad_input", "'query' must be a non-empty string")
    base = data["url"].rstrip("/")
    if not base.lower().startswith(("http://", "https://")):
        fail("bad_input", "'url' must be an http:// or https:// URL")
    ranged = [k for k in ("start", "end", "step") if data.get(k) is not None]
    if ranged and len(ranged) != 3:
        fail("bad_input", "a range query needs all of 'start', 'end' and 'step'")
    params = {"query": data["query"]}
    for key in ("start", "end", "step") if ranged else ("time",):
        if data.get(key) is not None:
            if not isinstance(data[key], str):
                fail("bad_input", f"'{key}' must be a string")
            params[key] = data[key]
    max_series = data.get("max_series", 100)
    if (
        isinstance(max_series, bool)
        or not isinstance(max_series, int)
        or not 1 <= max_series <= 1000
    ):
        fail("bad_input", "'max_series' must be an integer from 1 to 1000")
    endpoint = "/api/v1/query_range" if ranged else "/api/v1/query"
    body = urllib.parse.urlencode(params).encode("ascii")
    status, _h, answer, cut = fetch(
        base + endpoint,
        method="POST",
        body=body,
        max_bytes=MAX_ANSWER,
        timeout=float(data.get("timeout_sec", 20)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    if cut:
        fail("too_large", f"the answer is larger than {MAX_ANSWER} bytes; narrow the query")
    try:
        envelope = json.loads(answer)
    except ValueError:
        fail("bad_answer", f"{base} answered {status} without Prometheus JSON")
    if not isinstance(envelope, dict):
        fail("bad_answer", "the answer is not a JSON object")
    if envelope.get("status") != "success":
        fail(
            "query_failed",
            f"{envelope.get('errorType', status)}: {str(envelope.get('error', ''))[:2000]}",
        )
    payload = envelope.get("data")
    if not isinstance(payload, dict) or "resultType" not in payload:
        fail("bad_answer", "the answer has no data.resultType")
    result = payload.get("result")
    out = {"result_type": payload["resultType"], "truncated": False}
    if isinstance(result, list):
        out["series"] = len(result)
        out["truncated"] = len(result) > max_series
        result = result[:max_series]
    out["result"] = result
    warnings = envelope.get("warnings")
    if isinstance(warnings, list):
        out["warnings"] = [str(w)[:1000] for w in warnings[:20]]
    print(f"prometheus-query: {out['result_type']}, {out.get('series', 1)} series", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
