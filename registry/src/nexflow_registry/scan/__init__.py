"""The package scanner, run at publish (registry) and at install (client): a pure function
of a skill folder (and, when known, its signed manifest) to a verdict with findings.

    scan_folder(folder, manifest=None) -> ScanReport(verdict, findings)
    requests(folder) -> Requests(hosts, paths, permissions, secrets, runtime, image)

Checks: the control plane's SKILL.md linter; declared versus actual (network use without a
declared `network` permission or host, environment/secret reads not declared); hostile
patterns (`curl … | sh`, base64-decoded execution, binaries or archives fetched at run
time); `.pth` files; shipped ELF/Mach-O/PE binaries and archives; files outside the
manifest. The verdict is the worst finding's severity: `clean`, `warn` or `block`.
"""

from ._declared import requests
from ._model import Finding, Requests, ScanReport, Severity, Verdict
from ._scan import scan_folder

__all__ = ["Finding", "Requests", "ScanReport", "Severity", "Verdict", "requests", "scan_folder"]
