"""Signed checkpoints of the chain head, kept in a file apart from the database.

A bare hash chain cannot show that rows were cut off its end, nor that someone who can
write the database recomputed every hash after an edit. A checkpoint closes both holes:
an ed25519 signature over ``(seq, hash, ts)`` of the head at some moment, appended to a
JSON-lines file outside the database. `verify.verify_with_checkpoints` then reports a
log that ends before a checkpoint (`missing_tail`) or differs from one
(`checkpoint_mismatch`).

One line of the file (``HOME/checkpoints/audit.jsonl`` by default)::

    {"seq": 42, "hash": "<64 hex>", "ts": "2025-01-31T09:15:02.123456+00:00",
     "key_id": "<16 hex>", "signature": "<base64>"}

How to check a line without this code: ``key_id`` is the first 16 hex characters of
``sha256(raw 32-byte public key)``; the signature is ed25519 over the bytes
``b"nexflow-audit-checkpoint-v1\\n" + ascii(f"{seq}\\n{hash}\\n{ts}\\n")`` (the prefix keeps
a checkpoint signature from ever being valid for anything else, and the reverse).

The private key (``HOME/keys/audit-checkpoint.key``, PKCS#8 PEM or 32 raw bytes) must be
mode 0600 or stricter; the public key is written beside it (``audit-checkpoint.pub``,
PEM) so that anyone can verify without the private key. Copy the ``.pub`` somewhere the
database's writers cannot reach: a verifier is only as good as the key it trusts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .chain import format_ts

DOMAIN = b"nexflow-audit-checkpoint-v1\n"
"""Prefix of every signed message (domain separation)."""
_HEX = frozenset("0123456789abcdef")
_append_lock = threading.Lock()  # one appender at a time in this process


class CheckpointError(Exception):
    """A key or checkpoint file that cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed statement: the chain hash of event `seq` was `hash` at `ts`."""

    seq: int
    hash: str
    ts: str
    key_id: str
    signature: str
    """base64 of the 64-byte ed25519 signature over `message(seq, hash, ts)`."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "ts": self.ts,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> Checkpoint:
        """Parse one decoded line; `ValueError` when a field is missing or malformed."""
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        seq, hash_, ts, key_id, sig = (
            raw.get(k) for k in ("seq", "hash", "ts", "key_id", "signature")
        )
        if type(seq) is not int or seq < 1:
            raise ValueError("seq is not a positive integer")
        if not isinstance(hash_, str) or len(hash_) != 64 or not set(hash_) <= _HEX:
            raise ValueError("hash is not 64 lowercase hex characters")
        if not isinstance(ts, str) or not isinstance(key_id, str) or not isinstance(sig, str):
            raise ValueError("ts, key_id and signature must be strings")
        return cls(seq, hash_, ts, key_id, sig)


def message(seq: int, hash_: str, ts: str) -> bytes:
    """The exact bytes a checkpoint signs."""
    return DOMAIN + f"{seq}\n{hash_}\n{ts}\n".encode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex characters of sha256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, seq: int, hash_: str, ts: datetime | None = None) -> Checkpoint:
    """A checkpoint of event `seq` with chain hash `hash_`, stamped now unless `ts` is given."""
    when = format_ts(ts or datetime.now(UTC))
    signature = key.sign(message(seq, hash_, when))
    return Checkpoint(
        seq, hash_, when, key_id(key.public_key()), base64.b64encode(signature).decode("ascii")
    )


def signature_problem(cp: Checkpoint, public_key: Ed25519PublicKey) -> str | None:
    """None when `cp` is signed by `public_key`, else why not."""
    expected = key_id(public_key)
    if cp.key_id != expected:
        return f"signed by another key (key_id {cp.key_id!r}, expected {expected!r})"
    try:
        public_key.verify(
            base64.b64decode(cp.signature, validate=True), message(cp.seq, cp.hash, cp.ts)
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return "the signature does not match its seq, hash and ts"
    return None


# --- keys -----------------------------------------------------------------------------


def public_key_file(key_file: Path) -> Path:
    """Where the public key of `key_file` is written (`audit-checkpoint.pub`)."""
    return key_file.with_suffix(".pub")


def load_or_create_key(key_file: Path) -> Ed25519PrivateKey:
    """The private key in `key_file`, created (0600, folder 0700) when missing.

    Also writes the public key beside it when missing; `CheckpointError` when the key file
    is readable by group or others, unreadable, not an ed25519 key, or does not match the
    public key already there.
    """
    if not key_file.exists():
        _create_key(key_file)
    key = load_private_key(key_file)
    pub_file = public_key_file(key_file)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not pub_file.exists():
        tmp = pub_file.with_name(f".{pub_file.name}.{os.getpid()}.tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o644)
        tmp.replace(pub_file)
    elif key_id(load_public_key(pub_file)) != key_id(key.public_key()):
        raise CheckpointError(f"{pub_file} is not the public key of {key_file}")
    return key


def load_private_key(key_file: Path) -> Ed25519PrivateKey:
    """Read an ed25519 private key (PEM or 32 raw bytes); refuses group/other access."""
    try:
        mode = stat.S_IMODE(key_file.stat().st_mode)
        if mode & 0o077:
            raise CheckpointError(
                f"the checkpoint key {key_file} is readable by others (mode {mode:04o}); "
                f"run `chmod 600 {key_file}`"
            )
        data = key_file.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint key {key_file}: {_os_why(exc)}") from exc
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{key_file} is not a PEM or raw ed25519 private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{key_file} holds a {type(key).__name__}, not an ed25519 key")
    return key


def load_public_key(pub_file: Path) -> Ed25519PublicKey:
    """Read an ed25519 public key (PEM or 32 raw bytes); `CheckpointError` if impossible."""
    try:
        data = pub_file.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read the public key {pub_file}: {_os_why(exc)}") from exc
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{pub_file} is not a PEM or raw ed25519 public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{pub_file} holds a {type(key).__name__}, not an ed25519 key")
    return key


def _create_key(key_file: Path) -> None:
    folder = key_file.parent
    try:
        if not folder.exists():
            folder.mkdir(parents=True, mode=0o700)
            folder.chmod(0o700)  # mkdir's mode is filtered by the umask
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first: use theirs
    except OSError as exc:
        raise CheckpointError(
            f"cannot create the checkpoint key {key_file}: {_os_why(exc)}"
        ) from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())


# --- the file ---------------------------------------------------------------------------


def append(path: Path, cp: Checkpoint) -> None:
    """Append `cp` as one line and fsync; a torn last line left by a crash is cut first."""
    line = json.dumps(cp.to_dict(), separators=(",", ":")).encode("ascii") + b"\n"
    with _append_lock:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
            path.parent.chmod(0o700)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            _cut_torn_tail(fd)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def _cut_torn_tail(fd: int) -> None:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    start = max(0, size - 65536)  # a checkpoint line is ~250 bytes
    newline = os.pread(fd, size - start, start).rfind(b"\n")
    if newline < 0 and start > 0:
        os.write(fd, b"\n")  # too long to be a torn checkpoint: keep it, as a bad line
    else:
        os.ftruncate(fd, start + newline + 1)


@dataclass(slots=True)
class CheckpointFile:
    """What `read` found: good lines, lines that are not checkpoints, and notes."""

    exists: bool
    entries: list[tuple[int, Checkpoint]] = field(default_factory=list)
    """(line number from 1, checkpoint) in file order."""
    malformed: list[tuple[int, str]] = field(default_factory=list)
    """(line number, why) for complete lines that do not parse."""
    warnings: list[str] = field(default_factory=list)


def read(path: Path) -> CheckpointFile:
    """Parse the file; a torn last line (no newline, unparsable) is only a warning."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return CheckpointFile(False, warnings=[f"no checkpoint file at {path}"])
    except OSError as exc:
        return CheckpointFile(
            False, warnings=[f"cannot read the checkpoint file {path}: {_os_why(exc)}"]
        )
    found = CheckpointFile(True)
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            found.entries.append((number, Checkpoint.from_dict(json.loads(raw))))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if number == len(lines):  # no newline after it: a write cut short by a crash
                found.warnings.append(f"line {number} of {path} is torn (ignored)")
            else:
                found.malformed.append((number, f"not a checkpoint ({exc})"))
    return found


def _os_why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
