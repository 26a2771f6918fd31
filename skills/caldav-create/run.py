#!/usr/bin/env python3
"""caldav-create: PUT one new VEVENT into a CalDAV collection (stdin: JSON input, stdout:
JSON result). Every text value is escaped (RFC 5545 3.3.11) and folded at 75 octets."""

import base64
import datetime
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

_UID = re.compile(r"^[A-Za-z0-9@._-]{1,128}$")


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


def moment(text, key):
    try:
        value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        fail("bad_input", f"'{key}' must be an RFC 3339 time")
    if value.tzinfo is None:
        fail("bad_input", f"'{key}' needs a time zone (e.g. Z)")
    return value.astimezone(datetime.UTC)


def escape(text):
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line):
    data, out = line.encode("utf-8"), []
    while len(data) > 75:
        cut = 75 if not out else 74
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # never split a UTF-8 character
            cut -= 1
        out.append(data[:cut])
        data = data[cut:]
    out.append(data)
    return b"\r\n ".join(out).decode("utf-8")


def auth_headers():
    user = os.environ.get("NEXFLOW_SECRET_CALDAV_USERNAME")
    password = os.environ.get("NEXFLOW_SECRET_CALDAV_PASSWORD")
    if not user or password is None:
        return {}
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        fail("bad_input", "input must be an object with a 'url' string")
    url = data["url"] if data["url"].endswith("/") else data["url"] + "/"
    if not url.lower().startswith(("http://", "https://")):
        fail("bad_input", "'url' must be an http:// or https:// URL")
    for key in ("summary", "location", "description"):
        if key in data and not isinstance(data[key], str):
            fail("bad_input", f"'{key}' must be a string")
    if not data.get("summary", "").strip():
        fail("bad_input", "'summary' must be a non-empty string")
    start, end = moment(data.get("start"), "start"), moment(data.get("end"), "end")
    if end <= start:
        fail("bad_input", "'end' must be after 'start'")
    uid = data.get("uid") or f"{uuid.uuid4()}@nexflow"
    if not isinstance(uid, str) or not _UID.match(uid):
        fail("bad_input", "'uid' may hold letters, digits and @._- only")
    stamp = "%Y%m%dT%H%M%SZ"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Nexflow//caldav-create//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{datetime.datetime.now(datetime.UTC).strftime(stamp)}",
        f"DTSTART:{start.strftime(stamp)}",
        f"DTEND:{end.strftime(stamp)}",
        f"SUMMARY:{escape(data['summary'])}",
    ]
    for key in ("location", "description"):
        if data.get(key):
            lines.append(f"{key.upper()}:{escape(data[key])}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    body = "".join(fold(line) + "\r\n" for line in lines).encode("utf-8")
    href = url + urllib.parse.quote(uid) + ".ics"
    headers = {
        "Content-Type": "text/calendar; charset=utf-8",
        "If-None-Match": "*",
        **auth_headers(),
    }
    status, _h, answer, _cut = fetch(
        href, method="PUT", body=body, headers=headers, max_bytes=65536
    )
    if status == 412:
        fail("already_exists", f"an event with uid {uid} already exists")
    if status not in (200, 201, 204):
        fail(
            "caldav_failed", f"{href} answered {status}: {answer[:300].decode('utf-8', 'replace')}"
        )
    print(f"caldav-create: {status} for {uid}", file=sys.stderr)
    print(json.dumps({"uid": uid, "href": href, "status": status}))


if __name__ == "__main__":
    main()
