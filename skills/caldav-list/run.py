#!/usr/bin/env python3
"""caldav-list: the VEVENTs of a CalDAV collection in a time range (stdin: JSON input,
stdout: JSON result). The multistatus answer is read up to 8 MiB; a DTD is refused."""

import base64
import datetime
import json
import os
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

MAX_ANSWER = 8 << 20
DAV, CAL = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"


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


def utc(text, key):
    try:
        moment = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        fail("bad_input", f"'{key}' must be an RFC 3339 time")
    if moment.tzinfo is None:
        fail("bad_input", f"'{key}' needs a time zone (e.g. Z)")
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def auth_headers():
    user = os.environ.get("NEXFLOW_SECRET_CALDAV_USERNAME")
    password = os.environ.get("NEXFLOW_SECRET_CALDAV_PASSWORD")
    if not user or password is None:
        return {}
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def unescape(value):
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append("\n" if value[i + 1] in "nN" else value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def events_of(ics, href):
    lines = ics.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "").split("\n")
    found, current = [], None
    for line in lines:
        if line == "BEGIN:VEVENT":
            current = {"href": href}
        elif line == "END:VEVENT" and current is not None:
            if "uid" in current:
                found.append(current)
            current = None
        elif current is not None and ":" in line:
            head, value = line.split(":", 1)
            name = head.split(";", 1)[0].upper()
            key = {
                "UID": "uid",
                "SUMMARY": "summary",
                "DTSTART": "start",
                "DTEND": "end",
                "LOCATION": "location",
                "DESCRIPTION": "description",
            }.get(name)
            if key and key not in current:
                current[key] = unescape(value)[:4000]
    for event in found:
        event.setdefault("summary", "")
        event.setdefault("start", "")
    return found


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        fail("bad_input", "input must be an object with a 'url' string")
    url = data["url"]
    if not url.lower().startswith(("http://", "https://")):
        fail("bad_input", "'url' must be an http:// or https:// URL")
    start, end = utc(data.get("start"), "start"), utc(data.get("end"), "end")
    limit = data.get("max_events", 100)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        fail("bad_input", "'max_events' must be an integer from 1 to 1000")
    query = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
        '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
        f'<c:time-range start="{start}" end="{end}"/>'
        "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
    )
    headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8", **auth_headers()}
    status, _h, answer, cut = fetch(
        url, method="REPORT", body=query.encode(), headers=headers, max_bytes=MAX_ANSWER
    )
    if status != 207:
        fail("caldav_failed", f"{url} answered {status} to the calendar query")
    if cut:
        fail("too_large", f"the answer is larger than {MAX_ANSWER} bytes; narrow the range")
    if b"<!doctype" in answer[:4096].lower() or b"<!entity" in answer.lower():
        fail("bad_answer", "answers with a DOCTYPE or ENTITY declaration are refused")
    try:
        root = ET.fromstring(answer)  # noqa: S314 - no DTD gets here (refused above)
    except ET.ParseError as exc:
        fail("bad_answer", f"the answer is not well-formed XML: {exc}")
    events = []
    for response in root.iter(f"{DAV}response"):
        href = (response.findtext(f"{DAV}href") or "").strip()[:2048]
        for node in response.iter(f"{CAL}calendar-data"):
            events.extend(events_of(node.text or "", href))
    events.sort(key=lambda e: e["start"])
    print(f"caldav-list: {len(events)} event(s)", file=sys.stderr)
    print(
        json.dumps({"events": events[:limit], "truncated": len(events) > limit}, ensure_ascii=False)
    )


if __name__ == "__main__":
    main()
