#!/usr/bin/env python3
"""mail-send: one plain-text message over SMTP (stdin: JSON input, stdout: JSON result).
smtplib connects through the egress proxy's CONNECT tunnel (`_get_socket` is the seam
smtplib itself offers for that); everything the server says is bounded by smtplib."""

import email.message
import email.utils
import json
import os
import re
import smtplib
import socket
import ssl
import sys
import urllib.parse

_ADDRESS = re.compile(r"^[^@\s<>\",;:()\[\]\\]+@[A-Za-z0-9.-]+$")


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


class TunnelSMTP(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        sock, problem = tunnel(host, port, timeout)
        if sock is None:
            raise OSError(problem)
        return sock


class TunnelSMTPS(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        sock, problem = tunnel(host, port, timeout)
        if sock is None:
            raise OSError(problem)
        return self.context.wrap_socket(sock, server_hostname=host)


def address(value, key):
    if not isinstance(value, str) or not _ADDRESS.match(value):
        fail(
            "bad_input",
            f"'{key}' holds {str(value)[:100]!r}, not a plain address like ann@example.org",
        )
    return value


def build(data):
    sender = address(data.get("from"), "from")
    to = [address(a, "to") for a in data.get("to") or []]
    cc = [address(a, "cc") for a in data.get("cc") or []]
    if not to or len(to) + len(cc) > 50:
        fail("bad_input", "give 1 to 50 recipients in 'to' and 'cc'")
    for key in ("subject", "body"):
        if not isinstance(data.get(key), str):
            fail("bad_input", f"'{key}' must be a string")
    message = email.message.EmailMessage()
    try:
        message["From"], message["To"] = sender, ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
        if data.get("reply_to"):
            message["Reply-To"] = address(data["reply_to"], "reply_to")
        message["Subject"] = data["subject"]
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = email.utils.make_msgid(domain=sender.rsplit("@", 1)[1])
        message.set_content(data["body"])
    except ValueError as exc:  # a header with a line break
        fail("bad_input", f"cannot build the message: {exc}")
    return message, sender, to + cc


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("server"), str):
        fail("bad_input", "input must be an object with a 'server' string")
    try:
        server = urllib.parse.urlsplit(data["server"])
        port = server.port
    except ValueError as exc:
        fail("bad_input", f"'server' is not smtp://host[:port]: {exc}")
    if server.scheme not in ("smtp", "smtps") or not server.hostname:
        fail("bad_input", "'server' must be smtp://host[:port] or smtps://host[:port]")
    mode = data.get("starttls", "auto")
    if mode not in ("auto", "require", "off"):
        fail("bad_input", "'starttls' must be auto, require or off")
    message, sender, recipients = build(data)
    user = os.environ.get("NEXFLOW_SECRET_SMTP_USERNAME")
    password = os.environ.get("NEXFLOW_SECRET_SMTP_PASSWORD")
    timeout = float(data.get("timeout_sec", 30))
    context = ssl.create_default_context()
    host = server.hostname
    try:
        if server.scheme == "smtps":
            client, tls = TunnelSMTPS(host, port or 465, timeout=timeout, context=context), True
        else:
            client, tls = TunnelSMTP(host, port or 25, timeout=timeout), False
        with client:
            client.ehlo_or_helo_if_needed()
            if not tls and mode != "off" and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
                tls = True
            if mode == "require" and not tls:
                fail("tls_unavailable", f"{host} does not offer STARTTLS")
            if user and password is not None:
                if not tls:
                    fail("tls_unavailable", "refusing to send a login without TLS")
                client.login(user, password)
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        fail(
            "all_refused",
            "the server refused every recipient: "
            + "; ".join(
                f"{a}: {c} {m.decode('utf-8', 'replace')[:200]}"
                for a, (c, m) in exc.recipients.items()
            ),
        )
    except smtplib.SMTPAuthenticationError as exc:
        fail("login_failed", f"the server refused the login ({exc.smtp_code})")
    except smtplib.SMTPException as exc:
        fail("smtp_failed", f"{type(exc).__name__}: {str(exc)[:500]}")
    except (OSError, ssl.SSLError) as exc:
        fail("unreachable", f"{host}: {type(exc).__name__}: {str(exc)[:300]}")
    refused_text = {a: f"{c} {m.decode('utf-8', 'replace')[:200]}" for a, (c, m) in refused.items()}
    accepted = [a for a in recipients if a not in refused]
    print(f"mail-send: {len(accepted)} accepted, {len(refused)} refused", file=sys.stderr)
    print(
        json.dumps(
            {
                "message_id": message["Message-ID"],
                "accepted": accepted,
                "refused": refused_text,
                "tls": tls,
            }
        )
    )


if __name__ == "__main__":
    main()
