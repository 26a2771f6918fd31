#!/usr/bin/env python3
"""web-fetch: a page's readable text, title and links (stdin: JSON input, stdout: JSON
result). The page is hostile: at most 4 MiB is read, only text/html and text/plain are
read as text, and the parser keeps no more than it will return."""

import html.parser
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_PAGE = 4 << 20
SKIP = {"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "head"}
BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "pre",
    "blockquote",
    "hr",
    "dd",
    "dt",
    "figcaption",
    "main",
    "aside",
    "form",
}
VOID = {
    "br",
    "hr",
    "img",
    "input",
    "meta",
    "link",
    "area",
    "base",
    "col",
    "embed",
    "source",
    "track",
    "wbr",
    "param",
}


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


class Reader(html.parser.HTMLParser):
    def __init__(self, base, max_chars, max_links):
        super().__init__(convert_charrefs=True)
        self.base, self.max_chars, self.max_links = base, max_chars, max_links
        self.parts, self.size, self.skip, self.title = [], 0, [], None
        self.in_title, self.links, self.link = False, [], None

    def handle_starttag(self, tag, attrs):
        if tag in SKIP and tag not in VOID:
            self.skip.append(tag)
        if tag == "title":
            self.in_title, self.title = True, self.title or ""
        if tag in BLOCK:
            self.add("\n")
        if tag == "a" and not self.skip and len(self.links) < self.max_links:
            href = dict(attrs).get("href") or ""
            absolute = urllib.parse.urljoin(self.base, href.strip())
            if absolute.lower().startswith(("http://", "https://")):
                self.link = {"href": absolute[:4096], "text": ""}

    def handle_endtag(self, tag):
        if self.skip and tag == self.skip[-1]:
            self.skip.pop()
        if tag == "title":
            self.in_title = False
        if tag in BLOCK:
            self.add("\n")
        if tag == "a" and self.link is not None:
            self.link["text"] = " ".join(self.link["text"].split())[:500]
            self.links.append(self.link)
            self.link = None

    def handle_data(self, data):
        if self.in_title and len(self.title) < 1000:
            self.title += data
        if self.skip:
            return
        if self.link is not None and len(self.link["text"]) < 1000:
            self.link["text"] += data
        self.add(data)

    def add(self, text):
        if self.size <= self.max_chars:
            self.parts.append(text)
            self.size += len(text)

    def text(self):
        raw = "".join(self.parts)
        lines = [" ".join(line.split()) for line in raw.split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        return text[: self.max_chars], self.size > self.max_chars or len(text) > self.max_chars


def bounded(data, key, default, low, high):
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        fail("bad_input", f"'{key}' must be a number from {low} to {high}")
    return value


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
    max_chars = int(bounded(data, "max_chars", 50000, 1, 500000))
    max_links = int(bounded(data, "max_links", 100, 0, 1000))
    timeout = float(bounded(data, "timeout_sec", 20, 1, 30))
    status, headers, body, cut = fetch(
        url, timeout=timeout, max_bytes=MAX_PAGE, headers={"Accept": "text/html, text/plain;q=0.8"}
    )
    ctype = headers.get_content_type()
    if ctype not in ("text/html", "application/xhtml+xml", "text/plain"):
        fail("not_text", f"{url} answered {status} with {ctype}, not a page")
    charset = headers.get_content_charset() or "utf-8"
    try:
        page = body.decode(charset, "replace")
    except LookupError:
        page = body.decode("utf-8", "replace")
    if ctype == "text/plain":
        text, title, links = page[:max_chars], "", []
        truncated = cut or len(page) > max_chars
    else:
        reader = Reader(url, max_chars, max_links)
        reader.feed(page)
        reader.close()
        text, truncated = reader.text()
        title, links = " ".join((reader.title or "").split()), reader.links
        truncated = truncated or cut
    print(f"web-fetch: {status}, {len(text)} char(s), {len(links)} link(s)", file=sys.stderr)
    print(
        json.dumps(
            {
                "url": url,
                "status": status,
                "content_type": ctype,
                "title": title,
                "text": text,
                "links": links,
                "truncated": truncated,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
