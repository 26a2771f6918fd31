"""A real IMAP server for mail-read's tests: Debian's Dovecot (dovecot-imapd) run in the
foreground with its own configuration, password file and maildirs in a temp dir, on a
free loopback port, offering STARTTLS (the test CA's certificate) and IMAPS.

Dovecot runs its login processes as `dovenull` and the mail processes as `nobody`, so the
temp dir is world-traversable and the maildirs belong to `nobody`. Messages are placed in
a maildir's `new/` folder, where Dovecot finds them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.harness import free_port

IMAP_USER, IMAP_PASSWORD = "ann", "Wd3nB8vQx5KtPe2r"
DOVECOT = "/usr/sbin/dovecot"


class Dovecot:
    """One Dovecot instance knowing one user (IMAP_USER) with an INBOX and `Archive`."""

    def __init__(self, cert: Path, key: str | Path) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nexflow-dovecot-"))
        self.root.chmod(0o755)
        nobody = pwd.getpwnam("nobody")
        self.home = self.root / "home" / IMAP_USER
        for folder in ("", ".Archive"):
            for sub in ("cur", "new", "tmp"):
                (self.home / "Maildir" / folder / sub).mkdir(parents=True, exist_ok=True)
        for path in [self.root / "home", *self.home.rglob("*"), self.home]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        (self.root / "users").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n")
        self.port, self.tls_port = free_port(), free_port()
        config = self.root / "dovecot.conf"
        config.write_text(
            f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {nobody.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/users
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={self.home}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
        )
        self._proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                out = self._proc.stdout.read().decode() if self._proc.stdout else ""
                log = (
                    (self.root / "dovecot.log").read_text()
                    if (self.root / "dovecot.log").exists()
                    else ""
                )
                raise RuntimeError(
                    f"dovecot exited {self._proc.returncode}: {out[-2000:]}{log[-2000:]}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5) as sock,
            ):
                if sock.recv(100).startswith(b"* OK"):
                    return
            time.sleep(0.1)
        raise RuntimeError("dovecot never answered")

    def deliver(self, raw: bytes, folder: str = "") -> None:
        """Place one message in INBOX (or `.Archive`)."""
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.test"
        target = self.home / "Maildir" / folder / "new" / name
        target.write_bytes(raw)
        nobody = pwd.getpwnam("nobody")
        os.chown(target, nobody.pw_uid, nobody.pw_gid)

    def seen(self) -> list[str]:
        """Names of the INBOX messages Dovecot has moved to cur/ with the \\Seen flag."""
        cur = self.home / "Maildir" / "cur"
        return [p.name for p in cur.iterdir() if ":2," in p.name and "S" in p.name.split(":2,")[1]]

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)


__all__ = ["IMAP_PASSWORD", "IMAP_USER", "Dovecot"]
