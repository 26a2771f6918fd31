"""Why a decision came out as it did, for ``nexflow policy eval`` (never for enforcement).

Two sources, both read from the policy itself so the explanation follows the model as
rules are added:

- every reason code is declared by a ``# METADATA`` block (``custom: code:``) above the
  rule that emits it (a convention the policy tests enforce): each reason is shown with
  that rule's name, ``file:line`` and description;
- the package document (``data.nexflow.authz`` evaluated with the same input, by the
  same engine) gives the value of every rule: the multi-value rules (``name contains``)
  that collected something and the boolean rules (``name if``) that hold are the rules
  that fired.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ._decision import Decision
from ._engine import ENTRYPOINT
from ._regopy import regopy
from ._source import PolicySource

PACKAGE = ENTRYPOINT.rsplit("/", 1)[0].replace("/", ".")
"""The package of the entry point (``nexflow.authz``), whose rules are explained."""

_HEAD = re.compile(r"^(?:default\s+)?([A-Za-z_][A-Za-z0-9_]*)\b(.*)$")
_PACKAGE_LINE = re.compile(r"^package\s+([^\s#]+)")


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule definition: its name, where it is, what its annotation says."""

    name: str
    location: str
    description: str = ""


@dataclass(slots=True)
class Explanation:
    """What fired: the rules behind each reason code, and the values of fired rules."""

    decision: Decision
    engine: str
    reasons: list[tuple[str, str, list[RuleRef]]] = field(default_factory=list)
    fired: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``--json``)."""
        d = self.decision
        limits = d.grants.limits
        return {
            "engine": self.engine,
            "revision": d.revision,
            "decision": {
                "allow": d.allow,
                "require_approval": d.require_approval,
                "reasons": [{"code": c, "message": m} for c, m, _ in self.reasons],
                "grants": {
                    "filesystem": [{"path": g.path, "mode": g.mode} for g in d.grants.filesystem],
                    "network": list(d.grants.network),
                    "limits": {} if limits is None else dict(_limit_items(limits)),
                },
            },
            "reason_rules": {
                c: [{"rule": r.name, "location": r.location} for r in refs]
                for c, _, refs in self.reasons
            },
            "fired_rules": self.fired,
        }


def _limit_items(limits: Any) -> list[tuple[str, int]]:
    names = ("wall_time_ms", "cpu_time_ms", "memory_bytes", "pids", "output_bytes")
    return [(n, getattr(limits, n)) for n in names]


def _package_files(modules: dict[str, str]) -> dict[str, list[str]]:
    """The modules of ``PACKAGE``, as lines."""
    out = {}
    for name, text in sorted(modules.items()):
        lines = text.splitlines()
        for line in lines:
            match = _PACKAGE_LINE.match(line)
            if match:
                if match.group(1) == PACKAGE:
                    out[name] = lines
                break
    return out


def reason_rules(modules: dict[str, str]) -> dict[str, list[RuleRef]]:
    """Reason code → the annotated rules that declare it (``custom: code:``)."""
    found: dict[str, list[RuleRef]] = {}
    for name, lines in _package_files(modules).items():
        i = 0
        while i < len(lines):
            if lines[i].strip() != "# METADATA":
                i += 1
                continue
            block, i = [], i + 1
            while i < len(lines) and lines[i].startswith("#"):
                block.append(lines[i][2:] if lines[i].startswith("# ") else lines[i][1:])
                i += 1
            head = _HEAD.match(lines[i]) if i < len(lines) else None
            try:
                meta = yaml.safe_load("\n".join(block)) or {}
            except yaml.YAMLError:
                continue
            custom = meta.get("custom") if isinstance(meta, dict) else None
            code = custom.get("code") if isinstance(custom, dict) else None
            if head and isinstance(code, str):
                ref = RuleRef(head.group(1), f"{name}:{i + 1}", str(meta.get("description", "")))
                found.setdefault(code, []).append(ref)
    return found


def rule_kinds(modules: dict[str, str]) -> dict[str, str]:
    """Rule name → ``set`` (``name contains``) or ``bool`` (``name if``) for the package."""
    kinds: dict[str, str] = {}
    for lines in _package_files(modules).values():
        for line in lines:
            head = _HEAD.match(line)
            if not head or line.startswith(("package", "import", "default")):
                continue
            rest = head.group(2).lstrip()
            if rest.startswith("contains "):
                kinds[head.group(1)] = "set"
            elif rest.startswith("if ") or rest == "if {":
                kinds.setdefault(head.group(1), "bool")
    return kinds


def explain(decision: Decision, engine: str, document: Any, source: PolicySource) -> Explanation:
    """The explanation of ``decision`` given the package ``document`` for the same input."""
    declared = reason_rules(source.modules)
    result = Explanation(decision, engine)
    for reason in decision.reasons:
        result.reasons.append((reason.code, reason.message, declared.get(reason.code, [])))
    values = document if isinstance(document, dict) else {}
    for name, kind in sorted(rule_kinds(source.modules).items()):
        value = values.get(name)
        if (kind == "set" and isinstance(value, list) and value) or (
            kind == "bool" and value is True
        ):
            result.fired[name] = value
    return result


def embedded_document(source: PolicySource, input_text: str) -> Any:
    """The package document for one input, evaluated in-process with regopy."""
    interpreter = regopy.Interpreter()
    try:
        for name, text in sorted(source.modules.items()):
            interpreter.add_module(name, text)
        interpreter.add_data(source.data)
        interpreter.set_input_term(input_text)
        parsed = json.loads(str(interpreter.query("data." + PACKAGE)))
    except (regopy.RegoError, ValueError):
        return None  # the decision itself says what went wrong
    expressions = parsed.get("expressions") if isinstance(parsed, dict) else None
    return expressions[0] if isinstance(expressions, list) and len(expressions) == 1 else None
