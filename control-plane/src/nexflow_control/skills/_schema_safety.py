"""What makes a skill's JSON Schema unsafe to run, found before the skill loads.

A schema is data from whoever wrote the skill, and the control plane validates every
call's input against it. `schema_problems` refuses what could hurt the server:

* size: more than `MAX_SCHEMA_NODES` JSON values or nesting deeper than `MAX_SCHEMA_DEPTH`;
* regular expressions RE2 cannot run (``pattern``, ``patternProperties`` keys);
* references that leave the document: only ``#...`` references into this schema, no
  ``$dynamicRef``/``$recursiveRef``, no embedded ``$id`` resources (so no file or network
  fetch can ever happen), and every reference must resolve;
* reference cycles that never step into the instance (``{"$ref": "#"}``): they would
  recurse without end on any input;
* ``unevaluatedProperties`` beside ``patternProperties``: the one path where the
  validation library would run a pattern with Python's backtracking ``re``.

Each problem is ``(json_pointer, code, message)``; the pointer names the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from ._diagnostics import Code
from ._regex import pattern_problem

MAX_SCHEMA_NODES = 5_000
MAX_SCHEMA_DEPTH = 64

Problem = tuple[str, Code, str]

_ONE = ("additionalProperties", "unevaluatedProperties", "items", "contains", "propertyNames",
        "not", "if", "then", "else", "unevaluatedItems", "contentSchema")  # fmt: skip
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
# Keywords whose subschemas apply to the same instance (no step into it): a cycle
# through these alone never ends.
_SAME_INSTANCE_ONE = ("not", "if", "then", "else")
_SAME_INSTANCE_MANY = ("allOf", "anyOf", "oneOf")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _size_problem(schema: Any) -> Problem | None:
    count = 0
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_SCHEMA_NODES:
            return "", Code.SCHEMA_TOO_LARGE, f"more than {MAX_SCHEMA_NODES} values"
        if depth > MAX_SCHEMA_DEPTH:
            return "", Code.SCHEMA_TOO_LARGE, f"nested deeper than {MAX_SCHEMA_DEPTH} levels"
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return None


def subschemas(schema: dict[str, Any], pointer: str) -> Iterator[tuple[str, str, Any]]:
    """(keyword, pointer, subschema) for every direct subschema of ``schema``."""
    for key in _ONE:
        if key in schema:
            yield key, f"{pointer}/{key}", schema[key]
    for key in _MANY:
        items = schema.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                yield key, f"{pointer}/{key}/{index}", item
    for key in _MAP:
        items = schema.get(key)
        if isinstance(items, dict):
            for name, item in items.items():
                yield key, f"{pointer}/{key}/{_escape(str(name))}", item


def _walk(schema: Any) -> Iterator[tuple[str, Any]]:
    """(pointer, subschema) for every subschema, objects and booleans."""
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, bool):
            yield pointer, node
        elif isinstance(node, dict):
            yield pointer, node
            stack.extend((p, s) for _, p, s in subschemas(node, pointer))


def _resolve(root: Any, ref: str, anchors: dict[str, str]) -> str | None:
    """The pointer a local ``#...`` reference names, or None when it names nothing."""
    fragment = unquote(ref[1:])
    if not fragment.startswith("/"):
        return anchors.get(fragment) if fragment else ""
    node = root
    for raw in fragment[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return fragment


def _node_problems(pointer: str, node: dict[str, Any]) -> Iterator[Problem]:
    pattern = node.get("pattern")
    if isinstance(pattern, str) and (why := pattern_problem(pattern)) is not None:
        yield f"{pointer}/pattern", Code.SCHEMA_PATTERN, why
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict):
        for key in patterns:
            if (why := pattern_problem(str(key))) is not None:
                yield f"{pointer}/patternProperties/{_escape(key)}", Code.SCHEMA_PATTERN, why
        if "unevaluatedProperties" in node:
            yield (f"{pointer}/unevaluatedProperties", Code.SCHEMA_REF,
                   "unevaluatedProperties beside patternProperties is not supported")  # fmt: skip
    for key in ("$dynamicRef", "$recursiveRef"):
        if key in node:
            yield f"{pointer}/{key}", Code.SCHEMA_REF, f"{key} is not supported"
    if pointer and "$id" in node:
        yield f"{pointer}/$id", Code.SCHEMA_REF, "embedded $id resources are not supported"


def _cycle(edges: dict[str, list[str]]) -> str | None:
    """A pointer on a cycle of ``edges``, or None (iterative three-colour DFS)."""
    state: dict[str, int] = {}
    for start in edges:
        if state.get(start):
            continue
        stack = [(start, iter(edges.get(start, ())))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                return child
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(edges.get(child, ()))))
    return None


def schema_problems(schema: Any) -> list[Problem]:
    """Everything that makes ``schema`` unsafe to validate with; empty when it is safe."""
    size = _size_problem(schema)
    if size is not None:
        return [size]
    nodes: dict[str, dict[str, Any]] = {}
    leaves: set[str] = set()  # boolean subschemas
    for pointer, node in _walk(schema):
        if isinstance(node, dict):
            nodes[pointer] = node
        else:
            leaves.add(pointer)
    problems = [p for pointer, node in nodes.items() for p in _node_problems(pointer, node)]
    anchors = {n["$anchor"]: p for p, n in nodes.items() if isinstance(n.get("$anchor"), str)}
    edges: dict[str, list[str]] = {}
    for pointer, node in nodes.items():
        out = edges.setdefault(pointer, [])
        out.extend(p for key, p, _ in subschemas(node, pointer)
                   if key in _SAME_INSTANCE_ONE or key in _SAME_INSTANCE_MANY
                   or key == "dependentSchemas")  # fmt: skip
        ref = node.get("$ref")
        if ref is None:
            continue
        where = f"{pointer}/$ref"
        if not isinstance(ref, str) or not ref.startswith("#"):
            problems.append((where, Code.SCHEMA_REF, f"only local '#...' references: {ref!r:.80}"))
            continue
        target = _resolve(schema, ref, anchors)
        if target is None or (target not in nodes and target not in leaves):
            problems.append((where, Code.SCHEMA_REF, f"{ref[:80]!r} names no subschema here"))
        else:
            out.append(target)
    if not problems and (looped := _cycle(edges)) is not None:
        problems.append((looped, Code.SCHEMA_REF, "reference cycle that never steps "
                         "into the input (it would recurse forever)"))  # fmt: skip
    return problems
