"""A JSON Schema validator that cannot hurt the server.

`safe_validator` builds a Draft 2020-12 validator for a schema that passed
`schema_problems`, with:

* ``pattern``, ``patternProperties`` and ``additionalProperties`` matched by RE2
  (linear time) instead of Python's backtracking ``re``;
* an empty reference registry: nothing is ever fetched, from the network or from disk;
* a budget of keyword evaluations per validation (`MAX_STEPS`): a schema whose
  evaluation fans out (``items: {anyOf: [{$ref: "#"}, {$ref: "#"}]}`` doubles per level
  of nesting) stops with `ValidationTooCostly` instead of running for hours.

`check_schema` checks a schema against the meta-schema, compiling its ``format: regex``
values with RE2 too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry

from ._regex import PatternError, compile_pattern, search
from ._schema_safety import schema_problems

MAX_STEPS = 200_000

__all__ = ["MAX_STEPS", "UnsafeSchema", "ValidationTooCostly", "check_schema", "first_error",
           "safe_validator"]  # fmt: skip


class UnsafeSchema(ValueError):
    """The schema failed `schema_problems` (the loader refuses such skills)."""


class ValidationTooCostly(RuntimeError):
    """Validating this input against this schema would take more than `MAX_STEPS` steps."""


_steps: ContextVar[list[int] | None] = ContextVar("nexflow_schema_steps", default=None)


def _spend() -> None:
    left = _steps.get()
    if left is None:
        return
    left[0] -= 1
    if left[0] < 0:
        raise ValidationTooCostly(f"validation takes more than {MAX_STEPS} steps")


def _metered(keyword: Any) -> Any:
    def run(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        _spend()
        return keyword(validator, value, instance, schema)

    return run


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield ValidationError(f"{instance[:80]!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(schema: dict[str, Any], instance: dict[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        key
        for key in instance
        if key not in known and not any(search(pattern, key) for pattern in patterns)
    ]


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    keys = _additional(schema, instance)
    if validator.is_type(extra, "object"):
        for key in keys:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and keys:
        listed = ", ".join(repr(k[:40]) for k in sorted(keys)[:5])
        yield ValidationError(f"additional properties are not allowed ({listed} unexpected)")


_KEYWORDS = dict(Draft202012Validator.VALIDATORS)
_KEYWORDS.update(
    pattern=_pattern,
    patternProperties=_pattern_properties,
    additionalProperties=_additional_properties,
)
_SafeValidator = validators.extend(
    Draft202012Validator, {name: _metered(fn) for name, fn in _KEYWORDS.items()}
)
_NO_FETCH: Registry[Any] = Registry()

_FORMATS = FormatChecker()
_FORMATS.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
_FORMATS.checkers["regex"] = (compile_pattern, (PatternError,))


def check_schema(schema: Any) -> str | None:
    """Why ``schema`` is not a Draft 2020-12 schema (at which place), or None."""
    try:
        Draft202012Validator.check_schema(schema, format_checker=_FORMATS)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return f"not a valid JSON Schema at {where}: {exc.message[:200]}"
    except RecursionError:
        return "schema is nested too deeply"
    return None


def safe_validator(schema: dict[str, Any]) -> Any:
    """A validator for ``schema``; UnsafeSchema when `schema_problems` finds anything."""
    problems = schema_problems(schema)
    if problems:
        pointer, code, message = problems[0]
        raise UnsafeSchema(f"{pointer or '/'}: {message} [{code}]")
    return _SafeValidator(schema, registry=_NO_FETCH)


def first_error(validator: Any, instance: Any) -> Any:
    """The most relevant ValidationError, or None; ValidationTooCostly past the budget."""
    token = _steps.set([MAX_STEPS])
    try:
        return best_match(validator.iter_errors(instance))
    except RecursionError:
        raise ValidationTooCostly("validation nests too deeply") from None
    finally:
        _steps.reset(token)
