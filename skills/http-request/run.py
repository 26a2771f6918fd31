#!/usr/bin/env python3
"""http-request: one HTTP(S) request through the sandbox's egress proxy (stdin: JSON input,
stdout: JSON result). The proxy comes from HTTP_PROXY/HTTPS_PROXY, set by the executor;
TLS is verified against the trust anchors it mounts (SSL_CERT_FILE). A refusal by the
proxy (it marks its answers with X-Nexflow-Egress) is reported as `egress_refused`, never
as if the destination had answered.
"""

import base64
import json
import sys
import urllib.error
import urllib.request

DEFAULT_MAX_BODY = 256 * 1024
LIMIT_MAX_BODY = 1024 * 1024
MAX_REDIRECTS = 5
METHODS = ("GET", "POST", "PUT", "DELETE")


def fail(code, message, **extra):
    print(json.dumps({"error": code, "message": message, **extra}))
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
    method = data.get("method", "GET")
    if method not in METHODS:
        fail("bad_input", f"'method' must be one of {', '.join(METHODS)}")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        fail("bad_input", "'headers' must map names to strings")
    body = data.get("body")
    if body is not None and not isinstance(body, str):
        fail("bad_input", "'body' must be a string")
    max_body = data.get("max_body_bytes", DEFAULT_MAX_BODY)
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 0:
        fail("bad_input", "'max_body_bytes' must be a non-negative integer")
    return {
        "url": data["url"],
        "method": method,
        "headers": headers,
        "body": None if body is None else body.encode("utf-8"),
        "follow": data.get("follow_redirects", True) is not False,
        "timeout": float(data.get("timeout_sec", 30)),
        "max_body": min(max_body, LIMIT_MAX_BODY),
    }


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most MAX_REDIRECTS, records them; off when follow_redirects is false."""

    def __init__(self, follow):
        self.follow = follow
        self.seen = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not self.follow or len(self.seen) >= MAX_REDIRECTS:
            return None
        if not newurl.lower().startswith(("http://", "https://")):
            return None
        self.seen.append(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def decode(data, truncated):
    for cut in range(4 if truncated else 1):
        try:
            return data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def main():
    args = read_input()
    redirects = _Redirects(args["follow"])
    opener = urllib.request.build_opener(redirects)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in read_input
        args["url"], data=args["body"], headers=args["headers"], method=args["method"]
    )
    try:
        response = opener.open(request, timeout=args["timeout"])
    except urllib.error.HTTPError as exc:
        response = exc  # a 4xx/5xx answer is still an answer
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = str(reason)
        if "Tunnel connection failed" in text:  # CONNECT refused by the proxy
            fail(
                "egress_refused",
                f"the egress proxy refused the connection: {text}",
                url=redirects.seen[-1] if redirects.seen else args["url"],
            )
        fail("request_failed", f"{type(reason).__name__}: {text}")
    except (TimeoutError, OSError) as exc:
        fail("request_failed", f"{type(exc).__name__}: {exc}")
    with response:
        egress = response.headers.get("X-Nexflow-Egress")
        if egress:
            fail(
                "egress_refused",
                f"the egress proxy refused {response.url}: {egress}",
                url=response.url,
                reason=egress,
            )
        data = response.read(args["max_body"] + 1)
        truncated = len(data) > args["max_body"]
        data = data[: args["max_body"]]
        headers = {}
        for name, value in response.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        result = {
            "url": response.url,
            "status": response.status,
            "reason": response.reason or "",
            "headers": headers,
            "truncated": truncated,
            "redirects": redirects.seen,
        }
    text = decode(data, truncated)
    if text is None:
        result.update(body=base64.b64encode(data).decode("ascii"), encoding="base64")
    else:
        result.update(body=text, encoding="utf-8")
    print(json.dumps(result))


main()
