"""`Checker`: typed access to frontmatter fields that records diagnostics.

Each getter returns a clean value or None and, when the value is wrong, adds a
diagnostic carrying the field's dotted path and its line in SKILL.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._diagnostics import Code, Diagnostic, Severity
from ._document import SkillDocument


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
    }.get(type(value), type(value).__name__)


@dataclass
class Checker:
    doc: SkillDocument
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(
        self,
        fld: str,
        code: Code,
        message: str,
        severity: Severity = Severity.ERROR,
        line: int | None = None,
    ) -> None:
        where = self.doc.line_of(fld) if line is None else line
        self.diagnostics.append(Diagnostic(self.doc.path, where, fld, code, message, severity))

    def warn(self, fld: str, code: Code, message: str, line: int | None = None) -> None:
        self.add(fld, code, message, Severity.WARNING, line)

    def bad_type(self, fld: str, expected: str, value: Any) -> None:
        self.add(fld, Code.BAD_TYPE, f"expected {expected}, got {type_name(value)}")

    def string(
        self,
        data: dict[str, Any],
        key: str,
        fld: str,
        *,
        required: bool = False,
        max_len: int | None = None,
    ) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.add(fld, Code.MISSING_FIELD, f"'{key}' is required")
            return None
        if not isinstance(value, str):
            self.bad_type(fld, "a string", value)
            return None
        if required and not value.strip():
            self.add(fld, Code.MISSING_FIELD, f"'{key}' must not be empty")
            return None
        if max_len is not None and len(value) > max_len:
            self.add(fld, Code.FIELD_TOO_LONG, f"longer than {max_len} characters")
            return None
        return value

    def string_list(
        self, data: dict[str, Any], key: str, fld: str, *, split_string: bool = False
    ) -> tuple[str, ...]:
        """A list of strings; ``split_string`` also accepts "a b, c" as a list."""
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str) and split_string:
            return tuple(v for v in value.replace(",", " ").split() if v)
        if not isinstance(value, list):
            self.bad_type(fld, "a list of strings", value)
            return ()
        out: list[str] = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.bad_type(f"{fld}[{index}]", "a string", item)
        return tuple(out)

    def mapping(self, data: dict[str, Any], key: str, fld: str) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad_type(fld, "a mapping", value)
            return {}
        return value

    def positive_int(
        self, data: dict[str, Any], key: str, fld: str, default: int, maximum: int
    ) -> int:
        """An integer in 1..maximum; numeric strings are accepted (spec metadata is strings)."""
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad_type(fld, "a positive integer", value)
            return default
        if not 1 <= value <= maximum:
            self.add(fld, Code.BAD_VALUE, f"must be between 1 and {maximum}")
            return default
        return value
