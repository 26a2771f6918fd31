#!/usr/bin/env python3
"""loki-query: LogQL through Loki's HTTP API (stdin: JSON input, stdout: JSON result).
The answer is read up to 8 MiB; lines and labels are cut to bounded sizes."""

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


def streams(result, max_chars):
    out, lines = [], 0
    for stream in result if isinstance(result, list) else []:
        if not isinstance(stream, dict):
            continue
        labels = stream.get("stream") if isinstance(stream.get("stream"), dict) else {}
        entries = []
        for value in stream.get("values") or []:
            if isinstance(value, list) and len(value) >= 2:
                entries.append([str(value[0])[:32], str(value[1])[:max_chars]])
        lines += len(entries)
        out.append(
            {
                "labels": {str(k)[:256]: str(v)[:1024] for k, v in list(labels.items())[:64]},
                "entries": entries,
            }
        )
    return out, lines


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
    limit = data.get("limit", 100)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
        fail("bad_input", "'limit' must be an integer from 1 to 5000")
    if data.get("direction", "backward") not in ("backward", "forward"):
        fail("bad_input", "'direction' must be backward or forward")
    params = {
        "query": data["query"],
        "limit": str(limit),
        "direction": data.get("direction", "backward"),
    }
    for key in ("start", "end"):
        if data.get(key) is not None:
            if not isinstance(data[key], str):
                fail("bad_input", f"'{key}' must be a string")
            params[key] = data[key]
    url = f"{base}/loki/api/v1/query_range?{urllib.parse.urlencode(params)}"
    status, _h, answer, cut = fetch(
        url, max_bytes=MAX_ANSWER, timeout=float(data.get("timeout_sec", 20))
    )
    if cut:
        fail("too_large", f"the answer is larger than {MAX_ANSWER} bytes; lower 'limit'")
    try:
        envelope = json.loads(answer)
    except ValueError:
        fail(
            "query_failed" if status >= 400 else "bad_answer",
            f"{base} answered {status}: {answer[:500].decode('utf-8', 'replace')}",
        )
    if not isinstance(envelope, dict) or envelope.get("status") != "success":
        fail("query_failed", f"{base} answered {status}: {str(envelope)[:1000]}")
    payload = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    kind = payload.get("resultType")
    if kind == "streams":
        found, lines = streams(payload.get("result"), int(data.get("max_line_chars", 4096)))
        out = {"result_type": kind, "streams": found, "lines": lines}
    elif kind in ("matrix", "vector"):
        out = {"result_type": kind, "result": payload.get("result")}
    else:
        fail("bad_answer", f"unexpected resultType {str(kind)[:100]!r}")
    print(f"loki-query: {kind}", file=sys.stderr)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
