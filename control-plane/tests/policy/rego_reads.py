"""Which input fields each rule of a policy reads, from OPA's own parse of the Rego.

``opa parse --format json`` gives every module's AST; a term is a read of ``input`` when
it is a reference rooted at ``input`` (``input.context.rate[counter]``), at a local bound
to one (``context := input.context`` then ``context.rate``), or a call of the policy's
accessors with literal arguments (``_section("skill")``, ``_field("call", "id")``,
``object.get(<a read>, "tags", [])``). The path of a read stops at its first non-literal
step: ``input[name]`` is a read of the whole input (path ``()``). Reads deeper than
``section.field`` are reported at that depth: a field's whole value is what a cache key
must hold. Used by the decision-cache tests, so that a rule reading a new field fails them
until the field is proven keyed.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

Path_ = tuple[str, ...]
Reader = tuple[str, str]
"""(file name, rule name)."""

_ACCESSORS = {"_section": 1, "_field": 2}


def _op_name(term: dict[str, Any]) -> str:
    parts = term.get("value", []) if term.get("type") == "ref" else []
    return ".".join(str(p.get("value")) for p in parts)


def _read_path(term: Any, aliases: dict[str, Path_]) -> Path_ | None:
    """The input path ``term`` reads, or None when it reads no input itself."""
    if not isinstance(term, dict):
        return None
    kind, value = term.get("type"), term.get("value")
    if kind == "var":
        return () if value == "input" else aliases.get(value)
    if kind == "ref" and isinstance(value, list) and value:
        head = value[0]
        if head.get("type") != "var":
            return None
        if head.get("value") == "input":
            base: Path_ = ()
        elif head.get("value") in aliases:
            base = aliases[head["value"]]
        else:
            return None
        parts = list(base)
        for step in value[1:]:
            if step.get("type") != "string":
                break
            parts.append(step["value"])
        return tuple(parts)
    if kind == "call" and isinstance(value, list) and value:
        name, args = _op_name(value[0]), value[1:]
        if name in _ACCESSORS:  # the leading literal arguments: a var one reads it all
            literal: list[str] = []
            for arg in args[: _ACCESSORS[name]]:
                if arg.get("type") != "string":
                    break
                literal.append(arg["value"])
            return tuple(literal)
        if name == "object.get" and len(args) >= 2 and args[1].get("type") == "string":
            base_path = _read_path(args[0], aliases)
            if base_path is not None:
                return (*base_path, args[1]["value"])
    return None


def _aliases(body: list[Any]) -> dict[str, Path_]:
    """Locals bound to a read in one rule body: ``x := input.a`` or ``x = input.a``."""
    found: dict[str, Path_] = {}
    for expr in body:
        terms = expr.get("terms") if isinstance(expr, dict) else None
        if not isinstance(terms, list) or len(terms) != 3:
            continue
        if _op_name(terms[0]) not in ("assign", "eq") or terms[1].get("type") != "var":
            continue
        path = _read_path(terms[2], found)
        if path is not None:
            found[terms[1]["value"]] = path
    return found


def _walk(node: Any, aliases: dict[str, Path_], out: set[Path_]) -> None:
    terms = node.get("terms") if isinstance(node, dict) else None
    if isinstance(terms, list) and terms and terms[0].get("type") == "ref":
        node = {"type": "call", "value": terms}  # a call written as a statement of a body
    path = _read_path(node, aliases)
    if path is not None:
        out.add(path[:2])
        if isinstance(node, dict) and node.get("type") == "call":
            for arg in node["value"][3:]:  # object.get's default may read too
                _walk(arg, aliases, out)
        return
    if isinstance(node, dict):
        for item in node.values():
            _walk(item, aliases, out)
    elif isinstance(node, list):
        for item in node:
            _walk(item, aliases, out)


def _rule_name(rule: dict[str, Any]) -> str:
    head = rule.get("head", {})
    if "name" in head:
        return str(head["name"])
    return str(head.get("ref", [{}])[0].get("value"))


def input_reads(opa: Path, policies: Path) -> dict[Path_, set[Reader]]:
    """Every input path (at most ``section.field``) the policy's rules read, with the
    (file, rule) pairs that read it; ``*_test.rego`` files excluded."""
    modules = []
    for module in sorted(policies.rglob("*.rego")):
        if not module.name.endswith("_test.rego"):
            parsed = subprocess.run(
                [str(opa), "parse", "--format", "json", str(module)],
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            )
            modules.append((module.name, json.loads(parsed.stdout).get("rules", [])))
    # A rule that is a read itself (`_ctx := input.context`) is read through by others.
    rule_aliases: dict[str, Path_] = {}
    for _, rules in modules:
        for rule in rules:
            path = _read_path(rule.get("head", {}).get("value"), {})
            if path is not None and not rule.get("head", {}).get("args"):
                rule_aliases[_rule_name(rule)] = path
    reads: dict[Path_, set[Reader]] = defaultdict(set)
    for name, rules in modules:
        for rule in rules:
            found: set[Path_] = set()
            aliases = {**rule_aliases, **_aliases(rule.get("body", []))}
            for part in ("head", "body", "else"):
                _walk(rule.get(part), aliases, found)
            for path in found:
                reads[path].add((name, _rule_name(rule)))
    return dict(reads)
