"""Reading one SKILL.md from disk: size, encoding, frontmatter split, YAML.

Returns the raw frontmatter mapping with a 1-based file line for every dotted
field path, the Markdown body, and diagnostics. Never raises on file content.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._diagnostics import Code, Diagnostic, Severity
from ._json5 import rewrite_json5_values
from ._values import CONTROL
from ._yaml import YamlDoc, YamlProblem, parse_yaml

MAX_SKILL_MD_BYTES = 1024 * 1024
MAX_FRONTMATTER_CHARS = 256 * 1024
_OPEN = {"---"}
_CLOSE = {"---", "..."}


@dataclass
class SkillDocument:
    path: Path
    frontmatter: dict[str, Any]
    body: str
    body_line: int
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, dotted: str) -> int:
        """1-based line of a field, or of its nearest recorded parent, or of the start."""
        probe = dotted
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return 1


def _diag(path: Path, line: int, code: Code, message: str, fld: str = "") -> Diagnostic:
    return Diagnostic(path, line, fld, code, message, Severity.ERROR)


def _read_bytes(path: Path) -> tuple[bytes | None, Diagnostic | None]:
    try:
        st = os.stat(path)
    except OSError as exc:
        return None, _diag(path, 1, Code.PATH_MISSING, f"cannot read: {exc.strerror}")
    try:
        inside = path.resolve().is_relative_to(path.parent.resolve())
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        return None, _diag(path, 1, Code.BAD_FILE, "SKILL.md resolves outside its skill folder")
    if not stat.S_ISREG(st.st_mode):
        return None, _diag(path, 1, Code.BAD_FILE, "SKILL.md is not a regular file")
    if st.st_size > MAX_SKILL_MD_BYTES:
        return None, _diag(
            path, 1, Code.FILE_TOO_LARGE, f"SKILL.md is larger than {MAX_SKILL_MD_BYTES} bytes"
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SKILL_MD_BYTES + 1)
    except OSError as exc:
        return None, _diag(path, 1, Code.BAD_FILE, f"cannot read: {exc.strerror}")
    if len(data) > MAX_SKILL_MD_BYTES:
        return None, _diag(
            path, 1, Code.FILE_TOO_LARGE, f"SKILL.md is larger than {MAX_SKILL_MD_BYTES} bytes"
        )
    return data, None


def _decode(path: Path, data: bytes) -> tuple[str | None, Diagnostic | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, _diag(path, line, Code.NOT_UTF8, f"not valid UTF-8 (byte {exc.start})")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    found = CONTROL.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        return None, _diag(
            path,
            line,
            Code.CONTROL_CHARACTER,
            f"control character U+{ord(found.group()):04X} (only tab and newline are allowed)",
        )
    return text, None


def read_document(path: Path) -> tuple[SkillDocument | None, list[Diagnostic]]:
    """Read and split a SKILL.md; on a fatal problem the document is None."""
    data, problem = _read_bytes(path)
    if data is None:
        return None, [problem] if problem else []
    text, problem = _decode(path, data)
    if text is None:
        return None, [problem] if problem else []
    lines = text.split("\n")
    if not lines or lines[0].rstrip() not in _OPEN:
        return None, [
            _diag(path, 1, Code.NO_FRONTMATTER, "SKILL.md must start with a '---' frontmatter line")
        ]
    close = next((i for i in range(1, len(lines)) if lines[i].rstrip() in _CLOSE), None)
    if close is None:
        return None, [
            _diag(path, 1, Code.UNTERMINATED_FRONTMATTER, "frontmatter has no closing '---' line")
        ]
    yaml_text = "\n".join(lines[1:close])
    if len(yaml_text) > MAX_FRONTMATTER_CHARS:
        return None, [
            _diag(
                path,
                2,
                Code.FILE_TOO_LARGE,
                f"frontmatter is larger than {MAX_FRONTMATTER_CHARS} characters",
            )
        ]
    parsed = _parse_frontmatter(path, yaml_text)
    if isinstance(parsed, Diagnostic):
        return None, [parsed]
    diagnostics = [
        Diagnostic(path, line + 2, dotted, Code.DUPLICATE_KEY, "key appears more than once")
        for dotted, line in parsed.duplicates
    ]
    data_map = parsed.data if parsed.data is not None else {}
    if not isinstance(data_map, dict):
        diagnostics.append(_diag(path, 2, Code.BAD_TYPE, "frontmatter must be a YAML mapping"))
        return None, diagnostics
    doc = SkillDocument(
        path=path,
        frontmatter=data_map,
        body="\n".join(lines[close + 1 :]),
        body_line=close + 2,
        lines={key: line + 2 for key, line in parsed.lines.items()},
    )
    return doc, diagnostics


def _parse_frontmatter(path: Path, yaml_text: str) -> YamlDoc | Diagnostic:
    try:
        return parse_yaml(yaml_text)
    except YamlProblem as first:
        if first.code is Code.YAML_SYNTAX:
            rewritten = rewrite_json5_values(yaml_text)
            if rewritten is not None:
                try:
                    return parse_yaml(rewritten)
                except YamlProblem:
                    pass
        return _diag(path, first.line + 2, first.code, first.message, first.field)
