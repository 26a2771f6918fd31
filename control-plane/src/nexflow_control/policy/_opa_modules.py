"""The policy files of one directory as OPA REST modules: one module per Rego package.

OPA compiles its whole module set on every ``PUT /v1/policies/{id}`` and refuses a
module that refers to a rule it does not know yet. The files of one package refer to
each other (``decision.rego`` uses ``_granted_limits`` from ``limits.rego``, which uses
``_reason`` from ``decision.rego``), so no order of one-file uploads compiles. The files
of a package are therefore joined into one module: the ``package`` line once, the
imports of every file (deduplicated) once, then each file's text with its own header
lines (everything up to its last import) blanked, so that every rule keeps its line.
``PackageModule.locate`` maps a line of the joined module back to ``file:line`` for the
compile errors OPA reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import PolicyLoadError

MODULE_PREFIX = "nexflow-control/"
"""Every module the control plane uploads has an id under this prefix (and no other)."""

_PACKAGE = re.compile(r"^package\s+([^\s#]+)\s*(#.*)?$")
_IMPORT = re.compile(r"^import\s+([^\s#]+)(?:\s+as\s+([A-Za-z_][A-Za-z0-9_]*))?\s*(#.*)?$")


@dataclass(frozen=True, slots=True)
class PackageModule:
    """The joined files of one package: the module text and where each file starts."""

    package: str
    text: str
    files: tuple[tuple[str, int], ...]
    """(file name, 0-based line offset of the file in ``text``), in order."""

    @property
    def module_id(self) -> str:
        """The OPA policy id: the prefix and the package, URL-safe."""
        return MODULE_PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "_", self.package)

    def previous_file(self, row: int) -> str | None:
        """The file joined just before the one holding ``row``, if any."""
        names = [name for name, start in self.files if row > start]
        return names[-2] if len(names) >= 2 else None

    def locate(self, row: int) -> str:
        """``file:line`` of line ``row`` (1-based) of the joined module."""
        name, offset = self.files[0][0], 0
        for candidate, start in self.files:
            if row > start:
                name, offset = candidate, start
        return f"{name}:{max(row - offset, 1)}"


@dataclass(frozen=True, slots=True)
class _Header:
    package: str
    imports: tuple[tuple[str, str], ...]  # (path, alias)
    end: int  # lines [0, end) are the header


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _header(name: str, lines: list[str]) -> _Header:
    index = 0
    while index < len(lines) and _is_blank_or_comment(lines[index]):
        index += 1
    match = _PACKAGE.match(lines[index].strip()) if index < len(lines) else None
    if match is None:
        raise PolicyLoadError(f"{name}: the first statement is not a package statement")
    package, end = match.group(1), index + 1
    imports: list[tuple[str, str]] = []
    for position in range(index + 1, len(lines)):
        line = lines[position].strip()
        found = _IMPORT.match(line)
        if found:
            path = found.group(1)
            imports.append((path, found.group(2) or path.rsplit(".", 1)[-1]))
            end = position + 1
        elif not _is_blank_or_comment(line):
            break
    return _Header(package, tuple(imports), end)


def _join(package: str, files: list[tuple[str, list[str], _Header]]) -> PackageModule:
    imports: dict[str, tuple[str, str]] = {}  # alias -> (path, file)
    for name, _, header in files:
        for path, alias in header.imports:
            seen = imports.setdefault(alias, (path, name))
            if seen[0] != path:
                raise PolicyLoadError(
                    f"{name}: imports {path} as {alias}, but {seen[1]} imports {seen[0]} as "
                    f"{alias}; the OPA server engine joins the files of package {package} "
                    "into one module, so their imports must agree"
                )
    out = [f"package {package}"]
    for alias, (path, _) in sorted(imports.items()):
        implied = path.rsplit(".", 1)[-1] == alias
        out.append(f"import {path}" if implied else f"import {path} as {alias}")
    starts: list[tuple[str, int]] = []
    for name, lines, header in files:
        starts.append((name, len(out)))
        out.extend([""] * header.end)
        out.extend(lines[header.end :])
    return PackageModule(package, "\n".join(out) + "\n", tuple(starts))


def package_modules(modules: dict[str, str]) -> dict[str, PackageModule]:
    """Join ``modules`` (file name → Rego text) by package; keyed by OPA module id."""
    by_package: dict[str, list[tuple[str, list[str], _Header]]] = {}
    for name, text in sorted(modules.items()):
        lines = text.splitlines()
        header = _header(name, lines)
        by_package.setdefault(header.package, []).append((name, lines, header))
    joined = [_join(package, files) for package, files in sorted(by_package.items())]
    return {module.module_id: module for module in joined}
