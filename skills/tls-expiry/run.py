#!/usr/bin/env python3
"""tls-expiry: the validity of a server's TLS certificate (stdin: JSON input, stdout: JSON
result). The handshake runs over a CONNECT tunnel; an unverifiable certificate is decoded
from its DER bytes (via a temporary PEM file) so it can still be reported."""

import datetime
import json
import os
import socket
import ssl
import sys
import tempfile
import urllib.parse


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


def handshake(host, port, timeout, verify):
    sock, problem = tunnel(host, port, timeout)
    if sock is None:
        fail("unreachable", f"{host}:{port}: {problem}")
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            return tls.getpeercert(binary_form=True), tls.getpeercert(), tls.version()
    finally:
        sock.close()


def decode(der):
    """The dict getpeercert() gives, for a certificate that did not verify."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
        pem.write(ssl.DER_cert_to_PEM_cert(der))
        pem.flush()
        return ssl._ssl._test_decode_cert(pem.name)


def name_of(rdns):
    parts = {k: v for rdn in rdns or () for k, v in rdn}
    return parts.get("commonName") or ", ".join(f"{k}={v}" for k, v in parts.items())


def main():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        fail("bad_input", "input must be an object with a 'url' string")
    try:
        url = urllib.parse.urlsplit(data["url"])
        port = url.port or 443
    except ValueError as exc:
        fail("bad_input", f"'url' is not a valid URL: {exc}")
    if url.scheme.lower() != "https" or not url.hostname:
        fail("bad_input", "'url' must be an https:// URL with a host")
    warn, timeout = data.get("warn_days", 14), data.get("timeout_sec", 15)
    if isinstance(warn, bool) or not isinstance(warn, int) or not 0 <= warn <= 3650:
        fail("bad_input", "'warn_days' must be an integer from 0 to 3650")
    host = url.hostname
    result = {"host": host, "port": port, "verified": True}
    try:
        der, cert, version = handshake(host, port, float(timeout), True)
    except ssl.SSLCertVerificationError as exc:
        result.update(
            verified=False, verify_error=f"certificate verify failed: {exc.verify_message}"
        )
        try:
            der, _, version = handshake(host, port, float(timeout), False)
        except (ssl.SSLError, OSError) as exc2:
            fail("handshake_failed", f"{host}:{port}: {exc2}")
        cert = decode(der)
    except (ssl.SSLError, OSError) as exc:
        fail("handshake_failed", f"{host}:{port}: {exc}")
    now = datetime.datetime.now(datetime.UTC)
    begins = datetime.datetime.fromtimestamp(
        ssl.cert_time_to_seconds(cert["notBefore"]), datetime.UTC
    )
    ends = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), datetime.UTC)
    days = round((ends - now).total_seconds() / 86400, 2)
    result.update(
        subject=name_of(cert.get("subject")),
        issuer=name_of(cert.get("issuer")),
        names=[v for _k, v in cert.get("subjectAltName", ())][:100],
        not_before=begins.isoformat(),
        not_after=ends.isoformat(),
        days_left=days,
        expired=ends < now,
        expiring_soon=days < warn,
        tls_version=version or "",
    )
    print(f"tls-expiry: {host}:{port} expires in {days} day(s)", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
