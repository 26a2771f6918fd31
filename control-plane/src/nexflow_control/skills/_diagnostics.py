"""Diagnostics: what is wrong with a skill, where, and how bad.

A `Diagnostic` names the file, the 1-based line, the dotted field path
(``sandbox.filesystem[0].mode``), a stable machine-readable ``code`` and a human
``message``. Nothing in this package raises on a bad SKILL.md: problems become
diagnostics, and a skill with any ``error`` diagnostic is not loaded.

Stable codes (the values of `Code`) are part of the lint JSON output and of the
HTTP API; add new ones, never rename old ones.
"""

from __future__ import annotations

from enum import StrEnum

from ..diagnostics import Diagnostic, Severity, has_errors

__all__ = ["Code", "Diagnostic", "Severity", "has_errors"]


class Code(StrEnum):
    # file level
    PATH_MISSING = "path_missing"
    NO_SKILLS_FOUND = "no_skills_found"
    BAD_FILE = "bad_file"
    FILE_TOO_LARGE = "file_too_large"
    NOT_UTF8 = "not_utf8"
    NO_FRONTMATTER = "no_frontmatter"
    UNTERMINATED_FRONTMATTER = "unterminated_frontmatter"
    # YAML level
    YAML_SYNTAX = "yaml_syntax"
    YAML_ALIAS = "yaml_alias"
    YAML_TAG = "yaml_tag"
    DUPLICATE_KEY = "duplicate_key"
    CONTROL_CHARACTER = "control_character"
    UNSAFE_VALUE = "unsafe_value"  # NaN/Infinity, an integer beyond 64 bits, a lone surrogate
    # field level
    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"
    BAD_VALUE = "bad_value"
    FIELD_TOO_LONG = "field_too_long"
    UNKNOWN_FIELD = "unknown_field"
    BAD_NAME = "bad_name"
    NAME_MISMATCH = "name_mismatch"
    BAD_VERSION = "bad_version"
    UNKNOWN_PERMISSION = "unknown_permission"
    BAD_RUNTIME = "bad_runtime"
    BAD_IMAGE = "bad_image"
    BAD_PATH = "bad_path"
    BAD_MODE = "bad_mode"
    BAD_NETWORK_HOST = "bad_network_host"
    INVALID_SCHEMA = "invalid_schema"
    SCHEMA_CONFLICT = "schema_conflict"
    SCHEMA_PATTERN = "schema_pattern"  # a pattern RE2 cannot run
    SCHEMA_REF = "schema_ref"  # a remote, file, dynamic, dangling or endless reference
    SCHEMA_TOO_LARGE = "schema_too_large"
    BAD_JSON5 = "bad_json5"
    ENTRYPOINT_OUTSIDE_SKILL = "entrypoint_outside_skill"
    ENTRYPOINT_MISSING = "entrypoint_missing"
    REQUIREMENT_FILE_MISSING = "requirement_file_missing"
    PERMISSION_NOT_DECLARED = "permission_not_declared"
    BAD_SECRET_NAME = "bad_secret_name"  # noqa: S105 (a diagnostic code)
    # catalog level
    DUPLICATE_NAME = "duplicate_name"
    LOAD_FAILED = "load_failed"  # the loader itself failed: a bug, reported, never fatal
