#!/usr/bin/env python3
"""mail-read: list mailboxes, search the newest messages' headers, read one message's text
over IMAP (stdin: JSON input, stdout: JSON result). imaplib connects through the egress
proxy's CONNECT tunnel (`_create_socket` is the seam imaplib offers for that). Reading
never changes the mailbox: it is opened with EXAMINE (read-only) and bodies are fetched
with BODY.PEEK (no \\Seen flag), cut at `max_bytes` by the server (a partial fetch).
"""

import base64
import contextlib
import email
import email.errors
import email.header
import email.policy
import email.utils
import html.parser
import imaplib
import json
import os
import re
import socket
import ssl
import sys
import urllib.parse

_LIST = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<delim>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')
_SEARCH_TEXT = re.compile(r"^[\x20-\x7e]{1,200}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def tunnel(host, port, timeout):
    """A TCP connection to host:port through the sandbox's egress proxy (HTTP CONNECT, RFC
    9110 9.3.6); a direct one when no proxy is set. Fails as egress_refused when the proxy
    refuses; returns (socket, None), or (None, reason) when the destination is unreachable."""
    proxy = urllib.parse.urlsplit(
        os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or ""
    )
    try:
        if not proxy.hostname:
            return socket.create_connection((host, port), timeout=timeout), None
        sock = socket.create_connection((proxy.hostname, proxy.port or 3128), timeout=timeout)
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("idna"))
    head = b""
    try:
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: what follows belongs to the peer
            byte = sock.recv(1)
            if not byte or len(head) > 16384:
                sock.close()
                return None, "the proxy closed the connection"
            head += byte
    except OSError as exc:
        sock.close()
        return None, f"{type(exc).__name__}: {exc}"
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    code = status[1] if len(status) > 1 else ""
    if code == "200":
        return sock, None
    sock.close()
    marks = [v.split(":", 1)[1].strip() for v in lines if v.lower().startswith("x-nexflow-egress:")]
    if code == "502" and marks and marks[0] in ("connect_failed", "dns_failed"):
        return None, f"{marks[0]}: {lines[0][:200]}"
    fail(
        "egress_refused", f"the egress proxy refused {authority}: {(marks or [lines[0]])[0][:200]}"
    )


class TunnelIMAP(imaplib.IMAP4):
    def _create_socket(self, timeout):
        sock, problem = tunnel(self.host, self.port, timeout)
        if sock is None:
            raise OSError(problem)
        return sock


class TunnelIMAPS(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        sock, problem = tunnel(self.host, self.port, timeout)
        if sock is None:
            raise OSError(problem)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def utf7_decode(raw):
    """A mailbox name in IMAP's modified UTF-7 (RFC 3501 5.1.3) as text."""
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "&":
            end = raw.find("-", i)
            if end < 0:
                return raw
            chunk = raw[i + 1 : end]
            if chunk:
                b64 = chunk.replace(",", "/")
                b64 += "=" * (-len(b64) % 4)
                try:
                    out.append(base64.b64decode(b64).decode("utf-16-be"))
                except (ValueError, UnicodeDecodeError):
                    return raw
            else:
                out.append("&")
            i = end + 1
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def utf7_encode(name):
    """Text as a modified UTF-7 mailbox name."""
    out, run = [], []

    def flush():
        if run:
            data = base64.b64encode("".join(run).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + data.replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def quoted(text):
    """An IMAP quoted string (the caller has refused CR, LF and NUL)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def decoded(value):
    if value is None:
        return None
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))[:2000]
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return str(value)[:2000]


class _Text(html.parser.HTMLParser):
    """Readable text of an HTML part, for a message without a text/plain one."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def connect(data):
    try:
        server = urllib.parse.urlsplit(data["server"])
        port = server.port
    except (ValueError, KeyError, TypeError) as exc:
        fail("bad_input", f"'server' is not imap://host[:port]: {exc}")
    if server.scheme not in ("imap", "imaps") or not server.hostname:
        fail("bad_input", "'server' must be imap://host[:port] or imaps://host[:port]")
    mode = data.get("starttls", "require")
    if mode not in ("require", "off"):
        fail("bad_input", "'starttls' must be require or off")
    user = os.environ.get("NEXFLOW_SECRET_IMAP_USERNAME")
    password = os.environ.get("NEXFLOW_SECRET_IMAP_PASSWORD")
    if not user or password is None:
        fail("no_login", "the secrets imap_username and imap_password are not granted")
    timeout = float(data.get("timeout_sec", 30))
    context = ssl.create_default_context()
    host = server.hostname
    if server.scheme == "imaps":
        client = TunnelIMAPS(host, port or 993, ssl_context=context, timeout=timeout)
    else:
        client = TunnelIMAP(host, port or 143, timeout=timeout)
        if mode == "off":
            fail(
                "tls_unavailable", "refusing to send a login without TLS (use imaps:// or STARTTLS)"
            )
        if "STARTTLS" not in client.capabilities:
            fail("tls_unavailable", f"{host} does not offer STARTTLS")
        client.starttls(ssl_context=context)
    try:
        client.login(user, password)
    except imaplib.IMAP4.error:
        fail("login_failed", "the server refused the login")
    return client


def mailboxes(client, data):
    typ, listed = client.list()
    if typ != "OK":
        fail("imap_failed", "LIST failed")
    out = []
    for line in listed:
        if isinstance(line, tuple):  # a literal name: (prefix, name)
            prefix, literal = line
            match = _LIST.match(prefix.rstrip(b"{0123456789}").rstrip() + b" NIL")
            name = literal.decode("utf-8", "replace")
        else:
            match = _LIST.match(line or b"")
            name = None
        if match is None:
            continue
        if name is None:
            raw = match.group("name").decode("utf-8", "replace")
            name = json.loads(raw) if raw.startswith('"') else raw
        delim = match.group("delim").decode()
        out.append(
            {
                "name": utf7_decode(name),
                "flags": match.group("flags").decode().split(),
                "delimiter": None if delim == "NIL" else json.loads(delim),
            }
        )
    return {"mailboxes": out[:1000]}


def criteria(data):
    terms = []
    for key, word in (("from", "FROM"), ("subject", "SUBJECT"), ("text", "TEXT")):
        value = data.get(key)
        if value is not None:
            if not isinstance(value, str) or not _SEARCH_TEXT.match(value):
                fail("bad_input", f"'{key}' must be 1 to 200 printable ASCII characters")
            terms += [word, quoted(value)]
    since = data.get("since")
    if since is not None:
        if not isinstance(since, str) or not _DATE.match(since):
            fail("bad_input", "'since' must be a date like 2026-12-01")
        y, m, d = (int(p) for p in since.split("-"))
        if not 1 <= m <= 12 or not 1 <= d <= 31:
            fail("bad_input", "'since' is not a date")
        terms += ["SINCE", f"{d}-{_MONTHS[m - 1]}-{y}"]
    if data.get("unseen"):
        terms.append("UNSEEN")
    return terms or ["ALL"]


def select(client, data):
    mailbox = data.get("mailbox", "INBOX")
    if (
        not isinstance(mailbox, str)
        or not 0 < len(mailbox) <= 500
        or re.search(r"[\r\n\0]", mailbox)
    ):
        fail("bad_input", "'mailbox' must be a mailbox name")
    typ, detail = client.select(quoted(utf7_encode(mailbox)), readonly=True)
    if typ != "OK":
        fail(
            "not_found",
            f"no mailbox {mailbox!r}: {b' '.join(detail).decode('utf-8', 'replace')[:200]}",
        )
    return mailbox


def messages(client, data):
    mailbox = select(client, data)
    limit = data.get("limit", 20)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        fail("bad_input", "'limit' must be an integer from 1 to 200")
    typ, found = client.uid("SEARCH", *criteria(data))
    if typ != "OK":
        fail("imap_failed", f"SEARCH failed: {found!r:.200}")
    uids = sorted({int(u) for u in b" ".join(found).split() if u.isdigit()}, reverse=True)
    out = []
    if uids:
        chosen = ",".join(str(u) for u in uids[:limit])
        fields = " ".join(h.upper() for h in _HEADERS)
        typ, fetched = client.uid(
            "FETCH", chosen, f"(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({fields})])"
        )
        if typ != "OK":
            fail("imap_failed", "FETCH failed")
        for part in fetched:
            if not isinstance(part, tuple):
                continue
            meta, header = part
            uid = re.search(rb"UID (\d+)", meta)
            size = re.search(rb"RFC822\.SIZE (\d+)", meta)
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta)
            parsed = email.message_from_bytes(header, policy=email.policy.compat32)
            out.append(
                {
                    "uid": int(uid.group(1)) if uid else None,
                    "from": decoded(parsed["From"]),
                    "to": decoded(parsed["To"]),
                    "subject": decoded(parsed["Subject"]),
                    "date": decoded(parsed["Date"]),
                    "message_id": decoded(parsed["Message-ID"]),
                    "flags": flags.group(1).decode().split() if flags else [],
                    "size": int(size.group(1)) if size else None,
                }
            )
        out.sort(key=lambda m: m["uid"] or 0, reverse=True)
    return {"mailbox": mailbox, "matched": len(uids), "messages": out}


def message(client, data):
    mailbox = select(client, data)
    uid = data.get("uid")
    if isinstance(uid, bool) or not isinstance(uid, int) or uid < 1:
        fail("bad_input", "'uid' must be a message's UID (a positive integer)")
    max_bytes = data.get("max_bytes", 1 << 20)
    if (
        isinstance(max_bytes, bool)
        or not isinstance(max_bytes, int)
        or not 1 <= max_bytes <= 8 << 20
    ):
        fail("bad_input", "'max_bytes' must be an integer from 1 to 8388608")
    max_chars = data.get("max_chars", 100000)
    if (
        isinstance(max_chars, bool)
        or not isinstance(max_chars, int)
        or not 1 <= max_chars <= 1 << 20
    ):
        fail("bad_input", "'max_chars' must be an integer from 1 to 1048576")
    typ, fetched = client.uid(
        "FETCH", str(uid), f"(UID FLAGS RFC822.SIZE BODY.PEEK[]<0.{max_bytes}>)"
    )
    parts = [p for p in fetched or [] if isinstance(p, tuple)]
    if typ != "OK" or not parts:
        fail("not_found", f"no message with UID {uid} in {mailbox!r}")
    meta, raw = parts[0]
    size = re.search(rb"RFC822\.SIZE (\d+)", meta)
    parsed = email.message_from_bytes(raw[:max_bytes], policy=email.policy.default)
    plain, html_text, attachments = None, None, []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        kind = part.get_content_type()
        if disposition == "attachment" or (part.get_filename() and kind not in ("text/plain",)):
            payload = part.get_payload(decode=True) or b""
            attachments.append(
                {
                    "filename": decoded(part.get_filename()),
                    "content_type": kind,
                    "size": len(payload),
                }
            )
            continue
        if kind in ("text/plain", "text/html"):
            try:
                content = part.get_content()
            except (LookupError, ValueError):
                content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
            if kind == "text/plain" and plain is None:
                plain = content
            elif kind == "text/html" and html_text is None:
                reader = _Text()
                reader.feed(content)
                html_text = re.sub(r"\n{3,}", "\n\n", "".join(reader.parts)).strip()
    body = (plain if plain is not None else html_text or "").replace("\r\n", "\n")
    total = int(size.group(1)) if size else None
    return {
        "mailbox": mailbox,
        "uid": uid,
        **{h.lower().replace("-", "_"): decoded(parsed[h]) for h in _HEADERS},
        "text": body[:max_chars],
        "text_from": "text/plain" if plain is not None else "text/html" if html_text else None,
        "attachments": attachments[:100],
        "size": total,
        "truncated": len(body) > max_chars or (total is not None and total > max_bytes),
    }


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("server"), str):
        fail("bad_input", "input must be an object with a 'server' string")
    action = data.get("action")
    run = {"mailboxes": mailboxes, "messages": messages, "message": message}.get(action)
    if run is None:
        fail("bad_input", "'action' must be mailboxes, messages or message")
    host = "the server"
    try:
        client = connect(data)
        host = client.host
        try:
            out = run(client, data)
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()
    except imaplib.IMAP4.error as exc:
        fail("imap_failed", f"{host}: {str(exc)[:500]}")
    except (OSError, ssl.SSLError) as exc:
        fail("unreachable", f"{host}: {type(exc).__name__}: {str(exc)[:300]}")
    print(f"mail-read: {action} done", file=sys.stderr)
    print(json.dumps({"action": action, **out}, ensure_ascii=False))


if __name__ == "__main__":
    main()
