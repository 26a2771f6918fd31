"""SKILL.md model, loader, linter and catalog.

Public API::

    load_skill(dir, source) -> LoadResult(skill | None, diagnostics)
    SkillCatalog.load([(folder, source), ...]) -> SkillCatalog (.get, .list, .diagnostics)
    lint_paths(paths) -> list[Diagnostic]
    lint_command(paths, as_json, out) -> exit code (0 valid, 1 invalid)
    safe_validator(schema), first_error(validator, value) -> RE2 patterns, no fetches,
        a step budget (ValidationTooCostly)
    check_input(key, schema, value, inline=, root=) -> InputProblem | None (NeedsWorker
        inline); root "input" or "output" (a call's output against the output schema)
    ValidationPool().check(key, schema, value_json, root=) -> the same, in a worker process
    SkillAsks.of(skill) -> hosts, paths, permissions, secrets, runtime, image it asks for
    read_examples(skill_md) -> [Example]: the runnable examples of `## Examples`
        (`nexflow skill test`); skill_dirs(folder) -> the skill folders in a folder
"""

from ._asks import SkillAsks, required_env
from ._catalog import SkillCatalog, skill_dirs
from ._checking import InputProblem, NeedsWorker, check_input
from ._diagnostics import Code, Diagnostic, Severity
from ._digest import skill_digest
from ._examples import Example, read_examples
from ._lint import lint_command, lint_paths
from ._loader import LoadResult, load_skill
from ._model import (
    SKILL_DIGEST_LABEL,
    SKILL_IMAGE_REPO,
    Dialect,
    FilesystemRequest,
    NetworkRequest,
    PathAccess,
    Permission,
    Requirements,
    Runtime,
    Skill,
)
from ._pool import ValidationPool, ValidationUnavailable
from ._sandbox import parse_host
from ._secret_names import SECRET_NAME, secret_env_name
from ._validator import UnsafeSchema, ValidationTooCostly, first_error, safe_validator

__all__ = [
    "SECRET_NAME",
    "SKILL_DIGEST_LABEL",
    "SKILL_IMAGE_REPO",
    "Code",
    "Diagnostic",
    "Dialect",
    "Example",
    "FilesystemRequest",
    "InputProblem",
    "LoadResult",
    "NeedsWorker",
    "NetworkRequest",
    "PathAccess",
    "Permission",
    "Requirements",
    "Runtime",
    "Severity",
    "Skill",
    "SkillAsks",
    "SkillCatalog",
    "UnsafeSchema",
    "ValidationPool",
    "ValidationTooCostly",
    "ValidationUnavailable",
    "check_input",
    "first_error",
    "lint_command",
    "lint_paths",
    "load_skill",
    "parse_host",
    "read_examples",
    "required_env",
    "safe_validator",
    "secret_env_name",
    "skill_digest",
    "skill_dirs",
]
