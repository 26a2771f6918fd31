#!/usr/bin/env python3
"""http-health: judge one HTTP(S) endpoint healthy or not (stdin: JSON input, stdout: JSON
result). Only the first 1 MiB of the body is read for `expect_text`."""

import json
import sys
import time
import urllib.error
import urllib.request

MAX_BODY = 1 << 20


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def read_input():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        fail("bad_input", "input must be an object with a 'url' string")
    if not data["url"].lower().startswith(("http://", "https://")):
        fail("bad_input", "'url' must be an http:// or https:// URL")
    if data.get("method", "GET") not in ("GET", "HEAD"):
        fail("bad_input", "'method' must be GET or HEAD")
    expect = data.get("expect_status")
    if expect is not None and (
        not isinstance(expect, list) or not all(isinstance(s, int) for s in expect)
    ):
        fail("bad_input", "'expect_status' must be a list of integers")
    timeout = data.get("timeout_sec", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 30:
        fail("bad_input", "'timeout_sec' must be a number from 1 to 30")
    return data


def main():
    args = read_input()
    url, expect_text = args["url"], args.get("expect_text")
    request = urllib.request.Request(url, method=args.get("method", "GET"))  # noqa: S310
    started = time.monotonic()
    status, problem, body = None, None, b""
    try:
        response = urllib.request.urlopen(request, timeout=float(args.get("timeout_sec", 10)))  # noqa: S310
    except urllib.error.HTTPError as exc:
        response = exc
    except urllib.error.URLError as exc:
        if "Tunnel connection failed" in str(exc.reason):
            fail("egress_refused", f"the egress proxy refused the connection: {exc.reason}")
        response, problem = None, f"unreachable: {exc.reason}"
    except (TimeoutError, OSError) as exc:
        response, problem = None, f"unreachable: {type(exc).__name__}: {exc}"
    if response is not None:
        with response:
            if response.headers.get("X-Nexflow-Egress"):
                fail(
                    "egress_refused",
                    f"the egress proxy refused {url}: {response.headers['X-Nexflow-Egress']}",
                )
            status = response.status
            try:
                body = response.read(MAX_BODY)
            except (TimeoutError, OSError) as exc:
                problem = f"the body did not arrive: {type(exc).__name__}"
    latency = round((time.monotonic() - started) * 1000, 1)
    expect = args.get("expect_status")
    if problem is None and status is not None:
        if (status not in expect) if expect else not 200 <= status < 400:
            problem = f"status {status} is not expected"
        elif expect_text and expect_text.encode("utf-8") not in body:
            problem = f"the body does not contain {expect_text!r}"
    result = {"url": url, "healthy": problem is None, "status": status, "latency_ms": latency}
    if problem:
        result["problem"] = problem
    print(
        f"http-health: {'healthy' if problem is None else 'unhealthy'} in {latency} ms",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
