"""Skill schemas cannot hurt the server: unsafe ones are refused at load with a diagnostic
naming file, line and field; safe ones validate in bounded time with RE2 and no fetches."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.calls.inputs import validate_input
from nexflow_control.errors import InvalidInput
from nexflow_control.skills import Code, load_skill

from .conftest import WriteSkill

OK = "name: demo\ndescription: d\n"


def _errors(folder: Path) -> list[tuple[int, str, Code]]:
    result = load_skill(folder)
    assert result.skill is None
    return [(d.line, d.field, d.code) for d in result.diagnostics if d.is_error]


@pytest.mark.parametrize(
    ("schema", "line", "field", "code"),
    [
        pytest.param(
            "  properties:\n    a:\n      type: string\n      pattern: '(?<=x)y'\n",
            9,
            "input_schema.properties.a.pattern",
            Code.SCHEMA_PATTERN,
            id="lookbehind",
        ),
        pytest.param(
            "  properties:\n    a:\n      pattern: '(a)\\1'\n",
            8,
            "input_schema.properties.a.pattern",
            Code.SCHEMA_PATTERN,
            id="backreference",
        ),
        pytest.param(
            "  patternProperties:\n    '(?!x)': {}\n",
            7,
            "input_schema.patternProperties.(?!x)",
            Code.SCHEMA_PATTERN,
            id="lookahead-key",
        ),
        pytest.param(
            "  properties:\n    a: {pattern: 'a{2000}'}\n",
            7,
            "input_schema.properties.a.pattern",
            Code.SCHEMA_PATTERN,
            id="huge-repeat",
        ),
        pytest.param(
            "  properties:\n    a: {$ref: 'https://example.com/evil.json'}\n",
            7,
            "input_schema.properties.a.$ref",
            Code.SCHEMA_REF,
            id="remote-ref",
        ),
        pytest.param(
            "  properties:\n    a: {$ref: 'file:///etc/passwd'}\n",
            7,
            "input_schema.properties.a.$ref",
            Code.SCHEMA_REF,
            id="file-ref",
        ),
        pytest.param(
            "  properties:\n    a: {$ref: '#/$defs/missing'}\n",
            7,
            "input_schema.properties.a.$ref",
            Code.SCHEMA_REF,
            id="dangling-ref",
        ),
        pytest.param(
            "  allOf:\n    - $ref: '#'\n", 4, "input_schema", Code.SCHEMA_REF, id="self-cycle"
        ),
        pytest.param(
            "  $defs:\n    a: {anyOf: [{$ref: '#/$defs/b'}]}\n    b: {not: {$ref: '#/$defs/a'}}\n"
            "  properties:\n    x: {$ref: '#/$defs/a'}\n",
            8,
            "input_schema.$defs.b",
            Code.SCHEMA_REF,
            id="mutual-cycle",
        ),
        pytest.param(
            "  properties:\n    a: {$dynamicRef: '#meta'}\n",
            7,
            "input_schema.properties.a.$dynamicRef",
            Code.SCHEMA_REF,
            id="dynamic-ref",
        ),
        pytest.param(
            "  properties:\n    a: {$id: 'https://example.com/a', $ref: 'b.json'}\n",
            7,
            "input_schema.properties.a.$id",
            Code.SCHEMA_REF,
            id="embedded-id",
        ),
        pytest.param(
            "  patternProperties: {'^x': {}}\n  unevaluatedProperties: false\n",
            7,
            "input_schema.unevaluatedProperties",
            Code.SCHEMA_REF,
            id="unevaluated-with-patterns",
        ),
    ],
)
def test_unsafe_frontmatter_schema_is_refused(
    write_skill: WriteSkill, schema: str, line: int, field: str, code: Code
) -> None:
    """Each unsafe construct gives its own code, on the field's own line."""
    folder = write_skill(OK + "input_schema:\n  type: object\n" + schema)
    assert (line, field, code) in _errors(folder), _errors(folder)


def test_unsafe_body_schema_names_the_block_line(write_skill: WriteSkill) -> None:
    """A pattern RE2 cannot run in a body schema block is reported at the block's fence."""
    schema = '{"type": "object", "properties": {"a": {"pattern": "(?=a)"}}}'
    body = f"\n## Input schema\n\n```json\n{schema}\n```\n"
    folder = write_skill(OK, body)
    assert _errors(folder) == [(8, "input_schema.properties.a.pattern", Code.SCHEMA_PATTERN)]


def test_oversized_schema_is_refused_fast(write_skill: WriteSkill) -> None:
    """A schema block of 30 000 properties is refused in well under a second (native JSON5)."""
    props = ",".join(f"p{i}: {{type: 'string'}}" for i in range(30_000))
    folder = write_skill(
        OK, f"\n## Input schema\n\n```json5\n{{type: 'object', properties: {{{props}}}}}\n```\n"
    )
    start = time.monotonic()
    assert [c for _, _, c in _errors(folder)] == [Code.SCHEMA_TOO_LARGE]
    assert time.monotonic() - start < 2


def test_deep_schema_is_refused(write_skill: WriteSkill) -> None:
    """A schema nested deeper than the cap is refused (no recursion blow-up)."""
    deep = "{type: 'object'" + ", properties: {a: {type: 'object'" * 40 + "}}" * 40 + "}"
    folder = write_skill(OK, f"\n## Input schema\n\n```json5\n{deep}\n```\n")
    assert {c for _, _, c in _errors(folder)} <= {Code.SCHEMA_TOO_LARGE, Code.INVALID_SCHEMA}


def test_safe_recursive_and_local_refs_load(write_skill: WriteSkill) -> None:
    """Refs that step into the input (trees), anchors and escaped pointers are fine."""
    folder = write_skill(
        OK
        + "input_schema:\n  type: object\n  $defs:\n    'a b': {type: string}\n"
        + "    node: {$anchor: node, type: object,\n"
        + "           properties: {kids: {type: array, items: {$ref: '#node'}}}}\n"
        + "  properties:\n    tree: {$ref: '#/$defs/node'}\n    s: {$ref: '#/$defs/a%20b'}\n"
    )
    result = load_skill(folder)
    assert result.skill is not None, [d.format() for d in result.diagnostics]


def _check(schema: dict[str, Any], value: Any) -> bytes:
    return validate_input(f"t{time.monotonic_ns()}", schema, value, max_bytes=1 << 20)


def test_backtracking_pattern_runs_in_linear_time() -> None:
    """`(a+)+$` against 100 000 characters answers in milliseconds, naming the field."""
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}
    start = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        _check(schema, {"s": "a" * 100_000 + "!"})
    assert time.monotonic() - start < 0.5
    assert err.value.extra["field"] == "input.s"
    assert _check(schema, {"s": "aaaa"})


def test_backtracking_pattern_properties_and_additional_properties() -> None:
    """Pattern keys run through RE2 too, for patternProperties and additionalProperties."""
    schema = {
        "type": "object",
        "patternProperties": {"^(x+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    hostile = "x" * 50_000 + "!"
    start = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        _check(schema, {hostile: 1})
    assert "additional properties" in err.value.message
    with pytest.raises(InvalidInput) as err:
        _check(schema, {"xxxx": "not an int"})
    assert err.value.extra["field"] == "input.xxxx"
    assert time.monotonic() - start < 0.5


def test_fan_out_schema_stops_at_the_step_budget() -> None:
    """A schema whose work doubles per nesting level ends in `input_too_complex`, not hours."""
    schema = {
        "type": "object",
        "properties": {"n": {"items": {"allOf": [{"$ref": "#/properties/n"}] * 2}}},
    }
    nested: list[Any] = []
    for _ in range(40):
        nested = [nested]
    with pytest.raises(InvalidInput) as err:
        _check(schema, {"n": nested})
    assert err.value.code == "input_too_complex"


def test_unsafe_schema_is_never_run() -> None:
    """A schema with a remote ref that reached validation anyway is refused, never fetched."""
    schema = {"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/x.json"}}}
    with pytest.raises(InvalidInput) as err:
        _check(schema, {"a": 1})
    assert "only local" in err.value.message


@pytest.mark.parametrize("value", [{"s": "\ud800"}, {"n": float("nan")}, {"n": float("inf")}])
def test_unencodable_input_is_a_clear_error(value: dict[str, Any]) -> None:
    """A lone surrogate or NaN in an input (found by fuzzing: it raised) is a 422."""
    with pytest.raises(InvalidInput) as err:
        _check({"type": "object"}, value)
    assert err.value.extra["field"] == "input"
