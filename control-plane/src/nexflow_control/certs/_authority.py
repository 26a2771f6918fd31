"""The CA on disk: made once by `init_ca`, loaded (and checked) by every issue.

Layout of the folder (default `<home>/certs`, mode 0700): `ca.key` (the CA's private
key, PKCS#8 PEM, mode 0600), `ca.pem` (its self-signed certificate), and what `issue`
writes beside them. Private keys are created 0600 from the first byte (never chmod-ed
after the fact) and replaced atomically.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_KEY = "ca.key"
CA_CERT = "ca.pem"
CA_NAME = "Nexflow CA"


class CertError(Exception):
    """Bad input or an unusable CA folder; the message is the one line a user sees."""


@dataclass(frozen=True)
class Issued:
    """The files written: the certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    """A loaded CA: its key and certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signatures only; a CA also signs certificates and revocation lists."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    """(not before, not after): from five minutes ago (clock skew) for `days` days."""
    if days < 1:
        raise CertError(f"--days: {days} is not a number of days >= 1")
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)


def init_ca(folder: Path, *, days: int = 3650, force: bool = False) -> Issued:
    """Make the CA in `folder`; `CertError` if one is there and `force` is not set."""
    start, end = validity(days)
    key_path, cert_path = folder / CA_KEY, folder / CA_CERT
    if not force and (key_path.exists() or cert_path.exists()):
        raise CertError(
            f"a CA already exists in {folder}; pass --force to replace it "
            "(certificates it issued will no longer be trusted)"
        )
    private_dir(folder)
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_pair(Issued(cert_path, key_path), key, cert)
    return Issued(cert_path, key_path)


def load_ca(folder: Path) -> Authority:
    """The CA in `folder`; `CertError` naming the file when it is missing or unusable."""
    key_path, cert_path = folder / CA_KEY, folder / CA_CERT
    if not key_path.exists() and not cert_path.exists():
        raise CertError(f"no CA in {folder}: run `nexflow certs init` first")
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertError(f"cannot read the CA key {key_path}: {_why(exc)}") from None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CertError(f"cannot read the CA certificate {cert_path}: {_why(exc)}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertError(f"the CA key {key_path} does not belong to {cert_path}")
    return Authority(key, cert)


def private_dir(folder: Path) -> None:
    """Create `folder` (and parents) and make it 0700."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
    except OSError as exc:
        raise CertError(f"cannot use the folder {folder}: {_why(exc)}") from None


def write_pair(paths: Issued, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    """Write the key (0600 from the start) and the certificate, each replaced atomically."""
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(paths.key, key_pem, 0o600)
    _write(paths.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise CertError(f"cannot write {path}: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc).split("\n", 1)[0][:160] or type(exc).__name__
