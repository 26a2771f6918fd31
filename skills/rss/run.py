#!/usr/bin/env python3
"""rss: the newest entries of an RSS 2.0 or Atom feed (stdin: JSON input, stdout: JSON
result). No DTD is accepted, so no entity can expand; summaries lose their markup."""

import html
import json
import re
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

MAX_FEED = 4 << 20
ATOM = "{http://www.w3.org/2005/Atom}"
_TAGS = re.compile(r"<[^>]{0,2000}>")


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


def plain(text, limit):
    text = html.unescape(_TAGS.sub(" ", text or ""))
    return " ".join(text.split())[:limit]


def child_text(node, *names):
    for name in names:
        found = node.find(name)
        if found is not None and (found.text or "").strip():
            return found.text.strip()
    return ""


def atom_link(node):
    for link in node.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
    return ""


def rss_items(root, limit, chars):
    channel = root.find("channel")
    if channel is None:
        fail("not_a_feed", "an <rss> without a <channel>")
    items = [
        {
            "title": plain(child_text(item, "title"), 1000),
            "link": child_text(item, "link")[:4096],
            "id": child_text(item, "guid", "link")[:4096],
            "published": child_text(item, "pubDate", "{http://purl.org/dc/elements/1.1/}date")[
                :100
            ],
            "summary": plain(child_text(item, "description"), chars),
        }
        for item in channel.findall("item")
    ]
    return child_text(channel, "title"), child_text(channel, "link"), items


def atom_items(root, limit, chars):
    items = [
        {
            "title": plain(child_text(entry, f"{ATOM}title"), 1000),
            "link": atom_link(entry)[:4096],
            "id": child_text(entry, f"{ATOM}id")[:4096],
            "published": child_text(entry, f"{ATOM}published", f"{ATOM}updated")[:100],
            "summary": plain(child_text(entry, f"{ATOM}summary", f"{ATOM}content"), chars),
        }
        for entry in root.findall(f"{ATOM}entry")
    ]
    return child_text(root, f"{ATOM}title"), atom_link(root), items


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
    limit, chars = data.get("max_items", 20), data.get("summary_chars", 500)
    for key, value, top in (("max_items", limit, 200), ("summary_chars", chars, 5000)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            fail("bad_input", f"'{key}' must be an integer from 0 to {top}")
    status, _headers, body, cut = fetch(
        url,
        max_bytes=MAX_FEED,
        headers={"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9"},
    )
    if status != 200:
        fail("http_error", f"{url} answered {status}")
    if cut:
        fail("too_large", f"the feed is larger than {MAX_FEED} bytes")
    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        fail("not_a_feed", "feeds with a DOCTYPE or ENTITY declaration are refused")
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTD gets here (refused above)
    except ET.ParseError as exc:
        fail("not_a_feed", f"not well-formed XML: {exc}")
    if root.tag == "rss":
        fmt, (title, link, items) = "rss", rss_items(root, limit, chars)
    elif root.tag == f"{ATOM}feed":
        fmt, (title, link, items) = "atom", atom_items(root, limit, chars)
    else:
        fail(
            "not_a_feed", f"the document's root is <{root.tag[:100]}>, not <rss> or an Atom <feed>"
        )
    print(f"rss: {fmt} with {len(items)} item(s)", file=sys.stderr)
    print(
        json.dumps(
            {
                "format": fmt,
                "title": plain(title, 1000),
                "link": link[:4096],
                "items": items[:limit],
                "truncated": len(items) > limit,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
