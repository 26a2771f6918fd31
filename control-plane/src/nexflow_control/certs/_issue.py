"""Leaf certificates signed by the CA: an executor's server certificate, the control
plane's client certificate.

The control plane's identity is the SAN DNS name `nexflow-control-plane` (also its
common name). A DNS name rather than a URI because it is what every TLS stack checks
without extra code: an executor verifies the client chain against the CA and then
finds `nexflow-control-plane` among the peer's SANs (in gRPC, the auth context's
`x509_subject_alternative_name`); nothing else the CA issues carries that name, since
executor names are checked not to take it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._authority import CertError, Issued, key_usage, load_ca, new_key, validity, write_pair

CONTROL_PLANE_ID = "nexflow-control-plane"
CONTROL_PLANE_FILES = "control-plane"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(_LABEL)
_DNS = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def issue_executor(
    folder: Path, name: str, *, dns: list[str], ips: list[str], days: int = 365
) -> Issued:
    """`executor-<name>.pem` / `.key`: serverAuth for the given SANs (default DNS `name`)."""
    if not _NAME.fullmatch(name) or name == CONTROL_PLANE_ID:
        raise CertError(
            f"executor name {name!r}: use lowercase letters, digits and '-' "
            f"(at most 63, not {CONTROL_PLANE_ID!r})"
        )
    names = [_dns(d) for d in dns]
    if CONTROL_PLANE_ID in names:
        raise CertError(f"--dns {CONTROL_PLANE_ID}: that name is the control plane's identity")
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(_ip(a)) for a in ips]
    return _issue(
        folder,
        f"executor-{name}",
        name,
        sans or [x509.DNSName(name)],
        ExtendedKeyUsageOID.SERVER_AUTH,
        days,
    )


def issue_control_plane(folder: Path, *, days: int = 365) -> Issued:
    """`control-plane.pem` / `.key`: clientAuth, SAN DNS `nexflow-control-plane`."""
    return _issue(
        folder,
        CONTROL_PLANE_FILES,
        CONTROL_PLANE_ID,
        [x509.DNSName(CONTROL_PLANE_ID)],
        ExtendedKeyUsageOID.CLIENT_AUTH,
        days,
    )


def _issue(
    folder: Path,
    stem: str,
    common_name: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    days: int,
) -> Issued:
    start, end = validity(days)
    ca = load_ca(folder)
    end = min(end, ca.cert.not_valid_after_utc)  # never outlive the CA
    key = new_key()
    public = key.public_key()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    paths = Issued(folder / f"{stem}.pem", folder / f"{stem}.key")
    write_pair(paths, key, cert)
    return paths


def _dns(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if len(name) > 253 or not _DNS.fullmatch(name):
        raise CertError(f"--dns {value!r}: not a DNS name (labels of letters, digits and '-')")
    return name


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise CertError(f"--ip {value!r}: not an IPv4 or IPv6 address") from None
