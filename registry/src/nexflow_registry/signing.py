"""Publisher keys (ed25519) and signed manifests of a skill folder.

A manifest is the sorted list of (path, sha256, size) of every regular file under the
folder; its canonical JSON (sorted keys, no spaces, UTF-8) is what the publisher signs.
The signature travels as a small JSON document: `{"format", "public_key", "signature"}`;
the registry recomputes the manifest from the files it unpacked, so any changed, added or
removed file, or another key, makes `verify` refuse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from pydantic import BaseModel, ValidationError

from .errors import BadRequest, SignatureInvalid

FORMAT = "nexflow-manifest-signature/1"


class ManifestEntry(BaseModel):
    path: str
    sha256: str
    size: int


class SignatureDoc(BaseModel):
    format: str = FORMAT
    public_key: str
    """base64 of the raw 32-byte ed25519 public key"""
    signature: str
    """base64 of the ed25519 signature over the manifest's canonical JSON"""


def public_b64(public: Ed25519PublicKey) -> str:
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def key_id(public_key_b64: str) -> str:
    """A publisher key's id: hex SHA-256 of the raw public key."""
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()


def load_public(public_key_b64: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise BadRequest("not a base64 ed25519 public key", code="bad_public_key") from exc


def keygen(private_path: Path) -> str:
    """Write a new private key (PEM, mode 0600, refuses to overwrite); its public key, base64."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = public_b64(private.public_key())
    private_path.with_suffix(".pub").write_text(public + "\n")
    return public


def load_private(private_path: Path) -> Ed25519PrivateKey:
    key = load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BadRequest(f"{private_path} is not an ed25519 private key", code="bad_key")
    return key


def manifest(folder: Path) -> list[ManifestEntry]:
    """Every regular file under `folder`, sorted by its POSIX path; symlinks are refused."""
    entries: list[ManifestEntry] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise BadRequest(f"{rel!r} is a symbolic link", code="bad_manifest")
        if path.is_file():
            data = path.read_bytes()
            entries.append(
                ManifestEntry(path=rel, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            )
    entries.sort(key=lambda e: e.path)
    return entries


def canonical(entries: list[ManifestEntry]) -> bytes:
    """The bytes a signature covers."""
    doc = [e.model_dump() for e in entries]
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(folder: Path, private: Ed25519PrivateKey) -> SignatureDoc:
    """Sign the manifest of `folder`."""
    sig = private.sign(canonical(manifest(folder)))
    return SignatureDoc(
        public_key=public_b64(private.public_key()), signature=base64.b64encode(sig).decode()
    )


def parse_signature(raw: str | bytes) -> SignatureDoc:
    try:
        doc = SignatureDoc.model_validate_json(raw)
    except ValidationError as exc:
        raise SignatureInvalid(
            "the signature document is not valid JSON of the expected shape"
        ) from exc
    if doc.format != FORMAT:
        raise SignatureInvalid(f"unknown signature format {doc.format!r}")
    return doc


def verify(entries: list[ManifestEntry], doc: SignatureDoc) -> None:
    """Raise `SignatureInvalid` unless `doc` signs exactly `entries`."""
    public = load_public(doc.public_key)
    try:
        public.verify(base64.b64decode(doc.signature, validate=True), canonical(entries))
    except (InvalidSignature, ValueError, binascii.Error) as exc:
        raise SignatureInvalid("the signature does not match the package's files") from exc


def rotation_message(publisher: str, new_public_key: str) -> bytes:
    """What the old key signs to hand a publisher over to a new key."""
    return f"nexflow-registry key rotation\n{publisher}\n{new_public_key}\n".encode()


def sign_rotation(old: Ed25519PrivateKey, publisher: str, new_public_key: str) -> str:
    return base64.b64encode(old.sign(rotation_message(publisher, new_public_key))).decode()


def verify_rotation(old_public: str, publisher: str, new_public_key: str, signature: str) -> bool:
    try:
        load_public(old_public).verify(
            base64.b64decode(signature, validate=True), rotation_message(publisher, new_public_key)
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
