"""What the linters report: one `Diagnostic` shape and one way to print a lint run.

Both `nexflow skill lint` (skills/) and `nexflow image lint` (images/) describe a problem
as file, 1-based line, field, stable code (each package has its own `Code` enum) and a
human message, and print it the same way: one line per diagnostic and a summary, or one
JSON document `{"valid", <items>, "errors", "warnings", "diagnostics"}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

__all__ = ["Diagnostic", "Severity", "has_errors", "write_report"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in one file."""

    file: Path
    line: int
    field: str
    code: StrEnum
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self) -> str:
        """``file:line: field: message [code]`` (warnings say so before the message)."""
        field = self.field or "-"
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.file}:{self.line}: {field}: {prefix}{self.message} [{self.code.value}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.file),
            "line": self.line,
            "field": self.field,
            "code": self.code.value,
            "message": self.message,
            "severity": self.severity.value,
        }


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def write_report(
    out: TextIO,
    diagnostics: list[Diagnostic],
    *,
    as_json: bool,
    key: str,
    items: list[str],
    noun: str,
) -> bool:
    """Print a lint run (`items` are what was checked, listed under `key` in JSON and
    counted as `noun` in text); return whether it is valid (no error)."""
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    valid = errors == 0
    if as_json:
        document: dict[str, Any] = {
            "valid": valid,
            key: items,
            "errors": errors,
            "warnings": warnings,
            "diagnostics": [d.to_dict() for d in diagnostics],
        }
        out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return valid
    for diagnostic in diagnostics:
        out.write(diagnostic.format() + "\n")
    verdict = "ok" if valid else "invalid"
    out.write(f"{verdict}: {len(items)} {noun}, {errors} error(s), {warnings} warning(s)\n")
    return valid
