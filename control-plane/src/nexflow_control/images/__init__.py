"""Skill container images: a Dockerfile parser and linter.

Public API::

    parse_dockerfile(text, path) -> Dockerfile (.instructions, .diagnostics)
    read_dockerfile(path) -> (Dockerfile | None, diagnostics)
    lint_dockerfile(dockerfile) -> list[Diagnostic]
    lint_paths(paths) -> list[Diagnostic]
    lint_command(paths, as_json, out) -> exit code (0 valid, 1 invalid, 2 bad path)
"""

from ._diagnostics import SEVERITY, Code, Diagnostic, Severity
from ._dockerfile import Dockerfile, Heredoc, Instruction, parse_dockerfile, read_dockerfile
from ._lint import lint_command, lint_dockerfile, lint_paths
from ._secrets import is_secret_name

__all__ = [
    "SEVERITY",
    "Code",
    "Diagnostic",
    "Dockerfile",
    "Heredoc",
    "Instruction",
    "Severity",
    "is_secret_name",
    "lint_command",
    "lint_dockerfile",
    "lint_paths",
    "parse_dockerfile",
    "read_dockerfile",
]
