"""Diagnostics: what is wrong with a Dockerfile, where, and how bad.

A `Diagnostic` names the file, the 1-based line where the instruction starts,
the field (the instruction name, or ``ENV.API_TOKEN``,
``LABEL.org.opencontainers.image.title``), a stable machine-readable ``code``
and a human ``message``. Nothing in this package raises on a bad Dockerfile:
problems become diagnostics.

Stable codes (the values of `Code`) are part of the lint JSON output; add new
ones, never rename old ones. Each code always has the same severity
(`SEVERITY`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from ..diagnostics import Diagnostic, Severity

__all__ = ["PATH_CODES", "SEVERITY", "Code", "Diagnostic", "Severity", "diag"]


class Code(StrEnum):
    # path level (exit code 2)
    PATH_MISSING = "path_missing"
    NO_DOCKERFILE = "no_dockerfile"
    UNREADABLE = "unreadable"
    # file level
    FILE_TOO_LARGE = "file_too_large"
    NOT_UTF8 = "not_utf8"
    BINARY_FILE = "binary_file"
    # syntax
    BAD_DIRECTIVE = "bad_directive"
    UNKNOWN_INSTRUCTION = "unknown_instruction"
    SYNTAX_ERROR = "syntax_error"
    BAD_JSON_FORM = "bad_json_form"
    UNTERMINATED_HEREDOC = "unterminated_heredoc"
    EMPTY_CONTINUATION_LINE = "empty_continuation_line"
    INSTRUCTION_BEFORE_FROM = "instruction_before_from"
    NO_FROM = "no_from"
    # base image
    UNPINNED_BASE = "unpinned_base"
    BASE_NOT_DIGEST_PINNED = "base_not_digest_pinned"
    UNRESOLVED_BASE = "unresolved_base"
    BAD_IMAGE_REFERENCE = "bad_image_reference"
    # user
    NON_ROOT_USER = "non_root_user"
    USER_NOT_NUMERIC = "user_not_numeric"
    # ADD
    ADD_FROM_URL = "add_from_url"
    ADD_INSTEAD_OF_COPY = "add_instead_of_copy"
    # secrets
    SECRET_IN_ENV = "secret_in_env"  # noqa: S105
    SECRET_IN_ARG = "secret_in_arg"  # noqa: S105
    SECRET_IN_LABEL = "secret_in_label"  # noqa: S105
    SECRET_IN_INSTRUCTION = "secret_in_instruction"  # noqa: S105
    SECRET_BUILD_ARG = "secret_build_arg"  # noqa: S105
    # labels
    MISSING_LABEL = "missing_label"
    MISSING_RECOMMENDED_LABEL = "missing_recommended_label"
    BAD_RUNTIME_LABEL = "bad_runtime_label"
    # RUN and friends
    APT_INSTALL_RECOMMENDS = "apt_install_recommends"
    APT_LISTS_NOT_CLEANED = "apt_lists_not_cleaned"
    PIPE_TO_SHELL = "pipe_to_shell"
    SETUID_BIT = "setuid_bit"
    SUDO_IN_RUN = "sudo_in_run"
    EXPOSE_PORT = "expose_port"


WARNINGS = frozenset(
    {
        Code.EMPTY_CONTINUATION_LINE,
        Code.BASE_NOT_DIGEST_PINNED,
        Code.USER_NOT_NUMERIC,
        Code.ADD_INSTEAD_OF_COPY,
        Code.SECRET_BUILD_ARG,
        Code.MISSING_RECOMMENDED_LABEL,
        Code.APT_INSTALL_RECOMMENDS,
        Code.APT_LISTS_NOT_CLEANED,
        Code.PIPE_TO_SHELL,
        Code.SUDO_IN_RUN,
        Code.EXPOSE_PORT,
    }
)
SEVERITY: dict[Code, Severity] = {
    code: Severity.WARNING if code in WARNINGS else Severity.ERROR for code in Code
}
PATH_CODES = frozenset({Code.PATH_MISSING, Code.NO_DOCKERFILE, Code.UNREADABLE})


def diag(file: Path, line: int, field: str, code: Code, message: str) -> Diagnostic:
    """A diagnostic with the code's fixed severity."""
    return Diagnostic(file, line, field, code, message, SEVERITY[code])
