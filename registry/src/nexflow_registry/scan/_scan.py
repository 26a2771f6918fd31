"""`scan_folder`: walk the files, apply the checks, make the report."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ._declared import Declared, host_declared, lint
from ._model import Finding, ScanReport, Severity
from ._patterns import ENV_READ, HOSTILE, NETWORK, URL_HOST

CODE_SUFFIXES = {".py", ".js", ".mjs", ".cjs", ".ts", ".sh", ".bash", ".zsh", ".rb", ".pl", ".ps1"}
MAX_TEXT_BYTES = 2 * 1024 * 1024
# Variables every process has; reading them is not a secret read.
AMBIENT_ENV = {"HOME", "PATH", "PWD", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "TZ", "SHELL"}
_BIN: tuple[str, Severity] = ("shipped_binary", "block")
_ARC: tuple[str, Severity] = ("shipped_archive", "warn")
_UNSCANNED = " archive (its content is not scanned)"
_MAGIC: dict[bytes, tuple[str, Severity, str]] = {
    b"\x7fELF": (*_BIN, "ships an ELF binary"),
    b"\xfe\xed\xfa\xce": (*_BIN, "ships a Mach-O binary"),
    b"\xfe\xed\xfa\xcf": (*_BIN, "ships a Mach-O binary"),
    b"\xce\xfa\xed\xfe": (*_BIN, "ships a Mach-O binary"),
    b"\xcf\xfa\xed\xfe": (*_BIN, "ships a Mach-O binary"),
    b"\xca\xfe\xba\xbe": (*_BIN, "ships a Mach-O universal binary (or Java class)"),
    b"MZ": (*_BIN, "ships a PE (Windows) binary"),
    b"PK\x03\x04": (*_ARC, "ships a zip" + _UNSCANNED),
    b"\x1f\x8b": (*_ARC, "ships a gzip" + _UNSCANNED),
    b"\xfd7zXZ": (*_ARC, "ships an xz" + _UNSCANNED),
    b"7z\xbc\xaf": (*_ARC, "ships a 7z" + _UNSCANNED),
}


def _at(file: str, line: int, rule: str, severity: Severity, message: str) -> Finding:
    return Finding(file=file, line=line, rule=rule, severity=severity, message=message)


class ManifestLike(Protocol):
    path: str
    sha256: str


def scan_folder(folder: Path, manifest: Sequence[ManifestLike] | None = None) -> ScanReport:
    """The verdict and findings for the skill unpacked at `folder`; with `manifest`, files
    missing from it or differing from it are blocking findings too."""
    declared, findings = lint(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    for path in files:
        findings.extend(_file(folder, path, declared))
    if manifest is not None:
        findings.extend(_against_manifest(folder, files, manifest))
    return ScanReport.of(findings)


def _file(folder: Path, path: Path, declared: Declared) -> list[Finding]:
    rel = path.relative_to(folder).as_posix()
    if path.suffix == ".pth":
        return [_at(rel, 0, "pth_file", "block", "a .pth file runs code whenever Python starts")]
    with path.open("rb") as f:
        head = f.read(8)
    for magic, (rule, severity, message) in _MAGIC.items():
        if head.startswith(magic):
            return [_at(rel, 0, rule, severity, message)]
    if path.stat().st_size > MAX_TEXT_BYTES:
        return [_at(rel, 0, "not_scanned", "warn", f"over {MAX_TEXT_BYTES} bytes; not scanned")]
    text = path.read_bytes().decode("utf-8", errors="replace")
    is_code = path.suffix in CODE_SUFFIXES or text.startswith("#!")
    return _lines(rel, text, is_code, declared)


def _lines(rel: str, text: str, is_code: bool, declared: Declared) -> list[Finding]:
    out: list[Finding] = []
    network_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        for rule in HOSTILE:
            if rule.pattern.search(line):
                out.append(_at(rel, number, rule.code, rule.severity, rule.message))
        if not is_code:
            continue
        if not declared.network and not network_seen and NETWORK.search(line):
            network_seen = True
            out.append(
                _at(
                    rel,
                    number,
                    "undeclared_network",
                    "warn",
                    "uses the network but declares no `network` permission",
                )
            )
        if declared.network and declared.hosts:
            for host in URL_HOST.findall(line):
                if not host_declared(host, declared.hosts):
                    out.append(
                        _at(
                            rel,
                            number,
                            "undeclared_host",
                            "warn",
                            f"talks to {host!r}, not among sandbox.network",
                        )
                    )
        for match in ENV_READ.finditer(line):
            name = next(g for g in match.groups() if g)
            if (
                name not in declared.env
                and name not in AMBIENT_ENV
                and not name.startswith("NEXFLOW_")
            ):
                out.append(
                    _at(
                        rel,
                        number,
                        "undeclared_env",
                        "warn",
                        f"reads ${name}, not among requirements.env",
                    )
                )
    return out


def _against_manifest(
    folder: Path, files: list[Path], manifest: Sequence[ManifestLike]
) -> list[Finding]:
    listed = {m.path: m.sha256 for m in manifest}
    out: list[Finding] = []
    present = set()
    for path in files:
        rel = path.relative_to(folder).as_posix()
        present.add(rel)
        if rel not in listed:
            out.append(
                _at(
                    rel,
                    0,
                    "file_outside_manifest",
                    "block",
                    "this file is not in the signed manifest",
                )
            )
        elif hashlib.sha256(path.read_bytes()).hexdigest() != listed[rel]:
            out.append(
                _at(
                    rel,
                    0,
                    "manifest_mismatch",
                    "block",
                    "this file differs from its manifest entry",
                )
            )
    for rel in sorted(set(listed) - present):
        out.append(_at(rel, 0, "manifest_mismatch", "block", "listed in the manifest but missing"))
    return out
