"""The embedded engine: loading, revisions, reload, failure handling, strict parsing."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.policy import (
    POLICY_UNDEFINED,
    EmbeddedEngine,
    PolicyEngine,
    PolicyLoadError,
    bench_decisions,
    parse_decision,
)
from nexflow_control.policy._decision import DecisionFormatError, decision_or_undefined

POLICIES = Path(__file__).resolve().parents[3] / "policies"

Inputs = Callable[..., dict[str, Any]]
DECISION_FILE = "nexflow/authz/decision.rego"


def test_engine_satisfies_protocol(engine: EmbeddedEngine) -> None:
    """EmbeddedEngine is a PolicyEngine with a sha256 revision."""
    assert isinstance(engine, PolicyEngine)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", engine.revision)


def test_missing_directory_fails_to_load(tmp_path: Path) -> None:
    """A directory that does not exist is a PolicyLoadError, not a crash."""
    with pytest.raises(PolicyLoadError):
        EmbeddedEngine(tmp_path / "absent")


def test_syntax_error_fails_first_load(policy_copy: Path) -> None:
    """A policy that does not compile cannot become the first active bundle."""
    (policy_copy / DECISION_FILE).write_text("package nexflow.authz\n\ndecision := {\n")
    with pytest.raises(PolicyLoadError, match="compile"):
        EmbeddedEngine(policy_copy)


async def test_reload_keeps_old_bundle_on_syntax_error(policy_copy: Path, inputs: Inputs) -> None:
    """A reload that fails to compile reports why and keeps deciding with the old bundle."""
    engine = EmbeddedEngine(policy_copy)
    before = engine.revision
    (policy_copy / DECISION_FILE).write_text("package nexflow.authz\n\ndecision := {\n")
    result = await engine.reload()
    assert not result.ok and not result.changed and result.error
    assert engine.revision == before == result.revision
    d = await engine.decide(inputs(["user"]))
    assert d.allow and d.revision == before


async def test_revision_changes_with_data(policy_copy: Path, inputs: Inputs) -> None:
    """Editing data.json changes the revision and the decisions after a reload."""
    engine = EmbeddedEngine(policy_copy)
    before = engine.revision
    data = policy_copy / "data.json"
    data.write_text(
        data.read_text().replace('"permissions": ["filesystem", "network"]', '"permissions": []')
    )
    result = await engine.reload()
    assert result.ok and result.changed and engine.revision != before
    d = await engine.decide(inputs(["user"], ["filesystem"]))
    assert d.codes == ("permission_not_allowed",) and d.revision == engine.revision


async def test_reload_without_change_keeps_revision(engine: EmbeddedEngine) -> None:
    """Reloading unchanged files gives the same revision."""
    result = await engine.reload()
    assert result.ok and not result.changed


def test_test_files_are_not_loaded(policy_copy: Path) -> None:
    """A broken *_test.rego does not stop the engine from loading."""
    (policy_copy / "nexflow/authz/broken_test.rego").write_text("this is not rego")
    assert EmbeddedEngine(policy_copy).revision == EmbeddedEngine(POLICIES).revision


async def test_undefined_decision_is_policy_undefined(tmp_path: Path, inputs: Inputs) -> None:
    """A policy whose decision is undefined yields a policy_undefined deny."""
    (tmp_path / "p.rego").write_text("package nexflow.authz\n\ndecision := 1 if false\n")
    d = await EmbeddedEngine(tmp_path).decide(inputs())
    assert not d.allow and d.codes == (POLICY_UNDEFINED,)


async def test_wrong_shape_decision_is_policy_undefined(tmp_path: Path, inputs: Inputs) -> None:
    """A policy that returns allow without grants yields a policy_undefined deny."""
    (tmp_path / "p.rego").write_text('package nexflow.authz\n\ndecision := {"allow": true}\n')
    d = await EmbeddedEngine(tmp_path).decide(inputs())
    assert not d.allow and d.codes == (POLICY_UNDEFINED,)


async def test_type_error_in_policy_is_policy_undefined(tmp_path: Path, inputs: Inputs) -> None:
    """A builtin type error inside the decision value fails closed, without a traceback."""
    (tmp_path / "p.rego").write_text(
        'package nexflow.authz\n\ndecision := {"allow": startswith(5, "x")}\n'
    )
    d = await EmbeddedEngine(tmp_path).decide(inputs())
    assert not d.allow and d.codes == (POLICY_UNDEFINED,)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        {"allow": 1, "require_approval": False, "reasons": [], "grants": {}},
        {
            "allow": True,
            "require_approval": True,
            "reasons": [],
            "grants": {"filesystem": [], "network": [], "limits": {}},
        },
        {
            "allow": False,
            "require_approval": False,
            "reasons": [],
            "grants": {"filesystem": [], "network": [], "limits": {}},
        },
        {
            "allow": False,
            "require_approval": False,
            "reasons": [{"code": "x", "message": "m"}],
            "grants": {"filesystem": [{"path": "/", "mode": "rw"}], "network": [], "limits": {}},
        },
        {
            "allow": True,
            "require_approval": False,
            "reasons": [],
            "grants": {
                "filesystem": [{"path": "rel", "mode": "ro"}],
                "network": [],
                "limits": {
                    "wall_time_ms": 1,
                    "cpu_time_ms": 1,
                    "memory_bytes": 1,
                    "pids": 1,
                    "output_bytes": 1,
                },
            },
        },
        {
            "allow": True,
            "require_approval": False,
            "reasons": [],
            "grants": {
                "filesystem": [],
                "network": [],
                "limits": {
                    "wall_time_ms": True,
                    "cpu_time_ms": 1,
                    "memory_bytes": 1,
                    "pids": 1,
                    "output_bytes": 1,
                },
            },
        },
    ],
)
def test_parser_rejects_malformed_decisions(value: Any) -> None:
    """Wrong types, contradictions, grants on a deny or bad grants are all rejected."""
    with pytest.raises(DecisionFormatError):
        parse_decision(value, "sha256:0")
    assert decision_or_undefined(value, "sha256:0").codes == (POLICY_UNDEFINED,)


def test_every_emitted_code_is_declared_in_metadata() -> None:
    """Each reason code the policies emit is declared by a `custom: code:` annotation."""
    sources = [
        p.read_text()
        for p in (POLICIES / "nexflow").rglob("*.rego")
        if not p.name.endswith("_test.rego")
    ]
    text = "\n".join(sources)
    declared = set(re.findall(r"^#\s+code:\s*(\w+)\s*$", text, flags=re.M))
    emitted = set(re.findall(r'_reason\("(\w+)"', text)) | {"malformed_input", "default_deny"}
    assert emitted <= declared
    assert {
        "no_matching_role",
        "skill_not_allowed_for_role",
        "permission_not_allowed",
        "path_outside_grant",
        "approval_required_shell",
        "approval_required_secrets",
        "limit_above_ceiling",
        "network_not_allowed",
        "default_deny",
        "malformed_input",
    } <= declared


def test_concurrent_threads_get_their_own_decisions(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """Decisions from several threads at once each match their own input."""
    allowed, denied = inputs(["user"]), inputs(["viewer"])
    errors: list[str] = []

    def worker(item: dict[str, Any], expect: bool) -> None:
        for _ in range(50):
            if engine.decide_sync(item).allow is not expect:
                errors.append("mixed up")

    threads = [
        threading.Thread(target=worker, args=(allowed if i % 2 else denied, bool(i % 2)))
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


async def test_bench_reports_ordered_percentiles(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """bench_decisions returns positive p50 <= p99 in milliseconds."""
    p50, p99 = await bench_decisions(engine, [inputs()], 20)
    assert 0 < p50 <= p99
