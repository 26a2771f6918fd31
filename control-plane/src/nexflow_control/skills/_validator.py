"""A JSON Schema validator that cannot hurt the server.

`safe_validator` builds a Draft 2020-12 validator for a schema that passed
`schema_problems`, with:

* ``pattern``, ``patternProperties`` and ``additionalProperties`` matched by RE2
  (linear time) instead of Python's backtracking ``re``;
* an empty reference registry: nothing is ever fetched, from the network or from disk;
* a budget of keyword evaluations per validation (`MAX_STEPS`): a schema whose
  evaluation fans out (``items: {anyOf: [{$ref: "#"}, {$ref: "#"}]}`` doubles per level
  of nesting) stops with `ValidationTooCostly` instead of running for hours; optionally
  a slice of CPU time too (the inline tier on the event loop, see `_checking`);
* ``uniqueItems`` checked in linear time (jsonschema's own check is quadratic).

`check_schema` checks a schema against the meta-schema, compiling its ``format: regex``
values with RE2 too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry

from ._regex import PatternError, compile_pattern, search
from ._schema_safety import schema_problems

MAX_STEPS = 200_000
_CLOCK_EVERY = 32  # steps between two looks at the thread's CPU clock (a syscall)

__all__ = ["MAX_STEPS", "UnsafeSchema", "ValidationTooCostly", "check_schema", "first_error",
           "safe_validator"]  # fmt: skip


class UnsafeSchema(ValueError):
    """The schema failed `schema_problems` (the loader refuses such skills)."""


class ValidationTooCostly(RuntimeError):
    """Validating this input against this schema would take more than `MAX_STEPS` steps."""


class _Budget:
    """Steps left, and optionally the thread CPU time (`time.thread_time`) to stop at."""

    __slots__ = ("cpu_deadline", "left", "limit", "tick")

    def __init__(self, steps: int, cpu_s: float | None) -> None:
        self.left = self.limit = steps
        self.tick = 0
        self.cpu_deadline = None if cpu_s is None else time.thread_time() + cpu_s

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise ValidationTooCostly(f"validation takes more than {self.limit} steps")
        if self.cpu_deadline is not None:
            self.tick += n
            if self.tick >= _CLOCK_EVERY:
                self.tick = 0
                if time.thread_time() > self.cpu_deadline:
                    raise ValidationTooCostly("validation takes longer than its time slice")


_budget: ContextVar[_Budget | None] = ContextVar("nexflow_schema_budget", default=None)


def _spend(n: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.spend(n)


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
            _spend()
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(schema: dict[str, Any], instance: dict[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    _spend(len(instance) * len(patterns))
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


def _canonical(value: Any) -> Any:
    """A hashable stand-in equal for JSON-equal values (1 == 1.0, but true != 1)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, dict):
        return ("o", frozenset((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("a", tuple(_canonical(v) for v in value))
    return ("v", value)  # str, int, float: Python's equality is JSON's


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    # jsonschema's own check compares every pair of unhashable items: 4000 objects took
    # 45 s in one step. Hashing a canonical form is linear in the size of the array.
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for index, item in enumerate(instance):
        _spend()
        key = _canonical(item)
        if key in seen:
            yield ValidationError(f"has non-unique elements (item {index} repeats an earlier one)")
            return
        seen.add(key)


_KEYWORDS = dict(Draft202012Validator.VALIDATORS)
_KEYWORDS.update(
    pattern=_pattern,
    patternProperties=_pattern_properties,
    additionalProperties=_additional_properties,
    uniqueItems=_unique_items,
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


def first_error(
    validator: Any, instance: Any, *, steps: int = MAX_STEPS, cpu_s: float | None = None
) -> Any:
    """The most relevant ValidationError, or None; ValidationTooCostly past `steps`
    keyword evaluations or, when given, `cpu_s` seconds of this thread's CPU time."""
    token = _budget.set(_Budget(steps, cpu_s))
    try:
        return best_match(validator.iter_errors(instance))
    except RecursionError:
        raise ValidationTooCostly("validation nests too deeply") from None
    finally:
        _budget.reset(token)
