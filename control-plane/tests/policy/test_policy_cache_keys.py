"""Every input field the shipped policy reads is part of the decision-cache key: the fields
come from OPA's parse of the Rego, so a rule that starts reading a new field fails here
until the field is shown keyed (or, for a hidden field or the rate counts, shown to be
read only where the cache's argument allows)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.policy import EmbeddedEngine
from nexflow_control.policy._cache import InputView

from tests.policy_input import policy_input

from .conftest import OPA, POLICIES
from .rego_reads import input_reads

pytestmark = [pytest.mark.opa]  # `opa parse` reads the Rego

SECTIONS = ("principal", "skill", "call", "context")
"""The sections of a call decision's input (``request`` is the approver's input)."""
SHAPE_RULES = {
    ("input.rego", "_well_formed"),
    ("input.rego", "_shape_errors"),
    ("input.rego", "_section"),
    ("input.rego", "_field"),
}
"""The rules that only check the input's shape: a hidden field's "-" keeps its shape."""
RATE_RULE = ("rate.rego", "_violations")
"""The one rule that compares the rate counts with their caps (``rate_caps``)."""

MUTATIONS: dict[tuple[str, str], Any] = {
    ("principal", "id"): "bob",
    ("principal", "roles"): ["operator"],
    ("skill", "name"): "file-write",
    ("skill", "version"): "1.0.1",
    ("skill", "digest"): "sha256:" + "1" * 64,
    ("skill", "source"): "registry",
    ("skill", "publisher"): "someone",
    ("skill", "publisher_verified"): True,
    ("skill", "scan_verdict"): "warn",
    ("skill", "permissions"): ["network"],
    ("skill", "tags"): ["mail"],
    ("skill", "network"): ["api.github.com:443"],
    ("skill", "filesystem"): [{"path": "/home/me/workspace", "mode": "rw"}],
    ("skill", "limits"): {"pids": 8},
    ("skill", "secrets"): ["github_token"],
    ("skill", "optional_secrets"): ["smtp"],
    ("skill", "backend"): "docker",
    ("call", "paths"): [
        {"field": "path", "resolved": "/home/me/workspace/a", "access": "read"},
    ],
    ("call", "hosts"): [{"field": "url", "host": "api.github.com", "port": 443}],
    ("context", "workspace"): "/srv/other",
    ("context", "approved"): True,
    ("context", "skill_runs"): 0,
}
"""For each field the policy reads, a value other than ``policy_input()``'s."""


@pytest.fixture(scope="module")
def reads() -> dict[tuple[str, ...], set[tuple[str, str]]]:
    """The input paths the shipped policy reads, with their readers."""
    return input_reads(OPA, POLICIES)


@pytest.fixture(scope="module")
def view() -> InputView:
    """What the shipped policy sees of an input."""
    return InputView.from_data(json.loads((POLICIES / "data.json").read_text()))


def _hidden() -> set[tuple[str, ...]]:
    data = json.loads((POLICIES / "data.json").read_text())
    return {tuple(p.split(".")) for p in data["nexflow"]["config"]["policy_input"]["hidden"]}


def test_the_reads_are_found_at_all(reads: dict[tuple[str, ...], set[tuple[str, str]]]) -> None:
    """The parse finds the fields every decision depends on (else the tests below prove
    nothing), each with the rule that reads it."""
    assert ("rate.rego", "_violations") in reads[("context", "rate")]
    assert ("filesystem.rego", "_violations") in reads[("call", "paths")]
    assert ("roles.rego", "_roles_of_principal") in reads[("principal", "roles")]
    assert len([p for p in reads if len(p) == 2 and p[0] in SECTIONS]) >= 20


def test_two_inputs_differing_in_a_read_field_never_share_an_entry(
    reads: dict[tuple[str, ...], set[tuple[str, str]]], view: InputView
) -> None:
    """For every field the policy reads (hidden fields and rate counts aside), changing it
    changes both cache keys, and a real engine holding the first decision misses."""
    engine = EmbeddedEngine(POLICIES)
    reference = EmbeddedEngine(POLICIES, cache_size=0)
    base = policy_input()
    first = view.prepare(base)
    assert first is not None and first.rate_free is not None
    engine.decide_sync(base)
    fields = sorted(p for p in reads if len(p) == 2 and p[0] in SECTIONS)
    unkeyed = [p for p in fields if p not in MUTATIONS and p not in _hidden()]
    unkeyed = [p for p in unkeyed if p != ("context", "rate")]
    assert not unkeyed, f"the policy reads input.{unkeyed}: add them to MUTATIONS"
    for section, field in fields:
        if (section, field) not in MUTATIONS:
            continue
        changed = copy.deepcopy(base)
        changed[section][field] = MUTATIONS[(section, field)]
        assert changed != base, (section, field)
        other = view.prepare(changed)
        assert other is not None, (section, field)
        assert other.rate_free != first.rate_free, (section, field)
        assert other.digest != first.digest, (section, field)
        misses = engine.cache.misses
        decided = engine.decide_sync(changed)
        assert engine.cache.misses == misses + 1, f"input.{section}.{field} hit the cache"
        assert decided == reference.decide_sync(changed), (section, field)


def test_hidden_fields_and_rate_counts_are_read_only_where_the_cache_allows(
    reads: dict[tuple[str, ...], set[tuple[str, str]]],
) -> None:
    """A hidden field is read only by the shape checks ("-" keeps its shape); the rate
    counts only by those and the rate rule; no other rule reads a section holding them
    (or the whole input) at once."""
    hidden = _hidden()
    assert hidden == {("call", "id"), ("call", "input_sha256"), ("context", "time")}
    for path in hidden:
        extra = reads.get(path, set()) - SHAPE_RULES
        assert not extra, f"input.{'.'.join(path)} is hidden, yet {extra} read it"
    extra = reads[("context", "rate")] - SHAPE_RULES - {RATE_RULE}
    assert not extra, f"the decision cache assumes only {RATE_RULE} reads the rate; {extra} do"
    for whole in ((), ("call",), ("context",)):
        extra = reads.get(whole, set()) - SHAPE_RULES
        assert not extra, f"{extra} read input.{'.'.join(whole)} as a whole"


def test_the_reads_parser_sees_a_new_field_and_a_new_rate_reader(tmp_path: Path) -> None:
    """A rule added to a copy of the policy that reads a new field, or the rate counts,
    is found (so the two tests above would fail for it)."""
    target = tmp_path / "policies"
    target.mkdir()
    for source in POLICIES.rglob("*.rego"):
        relative = source.relative_to(POLICIES)
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(source.read_text())
    (target / "nexflow" / "authz" / "extra.rego").write_text(
        "package nexflow.authz\n\n"
        '_approvals contains _reason("busy", "busy") if input.context.rate.minute > 30\n\n'
        '_violations contains _reason("night", "night") if {\n'
        "\tctx := input.context\n"
        '\tobject.get(ctx, "night", false)\n'
        "}\n"
    )
    found = input_reads(OPA, target)
    assert ("extra.rego", "_approvals") in found[("context", "rate")]
    assert found[("context", "night")] == {("extra.rego", "_violations")}
