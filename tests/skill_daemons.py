"""Real servers on loopback for the skill library's tests: an SMTP server (aiosmtpd), a
CalDAV server (Radicale), a DNS server (dnsmasq) and TLS servers with made certificates.

Each starts on a free port of 127.0.0.1 and is stopped by `Daemons.close()`. A sandbox
reaches them through the executor's egress proxy when the stack allows `127.0.0.1:*`
(loopback is only ever reached through a grant that names the address).
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.harness import free_port
from tests.netlab import TestCA


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"{what} exited {proc.returncode}: {out[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} never listened on {port}")


def self_signed(directory: Path, days: int) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 valid `days` days (PEM cert, key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (directory / "self.pem").write_bytes(cert.public_bytes(pem))
    (directory / "self.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory / "self.pem", directory / "self.key"


class TLSServer:
    """Accepts TLS connections on loopback, completes the handshake, and closes them."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), conn:
                conn.settimeout(5)
                with self.context.wrap_socket(conn, server_side=True):
                    pass

    def close(self) -> None:
        self.sock.close()


class HostileDNS:
    """A DNS-over-TCP server whose answers attack the parser: for a name starting `loop`
    the answer's owner name is a compression pointer to itself; for any other name the
    header promises five answers and none follow."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), conn:
                conn.settimeout(5)
                size = int.from_bytes(conn.recv(2), "big")
                query = conn.recv(size)
                qname_end = query.index(b"\0", 12) + 5
                loop = query[13:17] == b"loop"
                header = query[:2] + bytes.fromhex("8180") + (1).to_bytes(2, "big")
                header += (1 if loop else 5).to_bytes(2, "big") + bytes(4)
                body = header + query[12:qname_end]
                if loop:
                    here = len(body)
                    body += bytes([0xC0 | (here >> 8), here & 0xFF]) + bytes.fromhex(
                        "0001000100000000"
                    )
                conn.sendall(len(body).to_bytes(2, "big") + body)

    def close(self) -> None:
        self.sock.close()


@dataclass
class Mailbox:
    """What the SMTP server received: (sender, recipients, message bytes)."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith("@refused.test"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@dataclass
class Daemons:
    """Every server the network skills are tested against; see the module docstring."""

    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    mailbox: Mailbox = field(default_factory=Mailbox)
    auth_mailbox: Mailbox = field(default_factory=Mailbox)
    smtp_port: int = 0
    smtp_auth_port: int = 0
    caldav_url: str = ""
    caldav_auth_url: str = ""
    dns_port: int = 0
    hostile_dns_port: int = 0
    tls_port: int = 0
    self_signed_port: int = 0
    ca: TestCA | None = None

    def _spawn(self, argv: list[str], port: int, what: str) -> None:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        _wait_port(port, proc, what)

    def start_smtp(self) -> None:
        from aiosmtpd.controller import Controller

        self.smtp_port = free_port()
        controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.smtp_port)
        controller.start()
        self.closers.append(controller.stop)

    def start_smtp_auth(self, user: str, password: str) -> None:
        """A second SMTP server that offers STARTTLS (the test CA's certificate, so
        `start_tls` first), requires a login after it, and knows one user."""
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        assert self.ca is not None, "start_tls first"
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.ca.cert, self.ca.key)

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            good = isinstance(data, LoginPassword) and (data.login, data.password) == (
                user.encode(),
                password.encode(),
            )
            return AuthResult(success=good)

        self.smtp_auth_port = free_port()
        controller = Controller(
            self.auth_mailbox,
            hostname="127.0.0.1",
            port=self.smtp_auth_port,
            tls_context=tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticator,
        )
        controller.start()
        self.closers.append(controller.stop)

    def _radicale(self, folder: str, *auth: str) -> str:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "radicale",
            "--config",
            "",
            "--server-hosts",
            f"127.0.0.1:{port}",
            *auth,
            "--storage-filesystem-folder",
            str(self.workdir / folder),
        ]
        self._spawn(argv, port, "radicale")
        return f"http://127.0.0.1:{port}"

    def start_caldav(self) -> None:
        base = self._radicale("radicale", "--auth-type", "none")
        self.caldav_url = f"{base}/ann/work/"
        made = httpx.request("MKCALENDAR", self.caldav_url, auth=("ann", "x"), timeout=10)
        assert made.status_code == 201, made.text

    def start_caldav_auth(self, user: str, password: str) -> None:
        """A second Radicale that checks logins against an htpasswd file with one user."""
        users = self.workdir / "htpasswd"
        users.write_text(f"{user}:{password}\n")
        base = self._radicale(
            "radicale-auth",
            *("--auth-type", "htpasswd", "--auth-htpasswd-filename", str(users)),
            *("--auth-htpasswd-encryption", "plain", "--auth-delay", "0"),
        )
        self.caldav_auth_url = f"{base}/{user}/work/"
        made = httpx.request("MKCALENDAR", self.caldav_auth_url, auth=(user, password), timeout=10)
        assert made.status_code == 201, made.text

    def start_dns(self, records: dict[str, str], txt: dict[str, str]) -> None:
        self.dns_port = free_port()
        argv = [
            shutil.which("dnsmasq") or "/usr/sbin/dnsmasq",
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            f"--port={self.dns_port}",
            "--user=root",
            f"--pid-file={self.workdir / 'dnsmasq.pid'}",
            "--local=/test/",
            "--mx-host=mail-domain.test,mx1.test,10",
        ]
        argv += [f"--host-record={name},{address}" for name, address in records.items()]
        argv += [f"--txt-record={name},{text}" for name, text in txt.items()]
        self._spawn(argv, self.dns_port, "dnsmasq")
        hostile = HostileDNS()
        self.hostile_dns_port = hostile.port
        self.closers.append(hostile.close)

    def start_tls(self) -> None:
        self.ca = TestCA.create(self.workdir / "tls", ["localhost"], ["127.0.0.1"])
        good = TLSServer(self.ca.cert, self.ca.key)
        bad = TLSServer(*self_signed(self.workdir / "self", days=400))
        self.tls_port, self.self_signed_port = good.port, bad.port
        self.closers += [good.close, bad.close]

    def close(self) -> None:
        for closer in self.closers:
            with contextlib.suppress(Exception):
                closer()
        for proc in self.procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
