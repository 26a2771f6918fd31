"""The input encoding and decision parsing both engines share: same refusals, same numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from nexflow_control.policy import (
    MALFORMED_INPUT,
    DecisionFormatError,
    EmbeddedEngine,
    PolicyLoadError,
    encode_input,
    parse_decision,
)
from nexflow_control.policy._opa_modules import package_modules

Inputs = Callable[..., dict[str, Any]]
LIMITS = {"wall_time_ms": 1, "cpu_time_ms": 1, "memory_bytes": 1, "pids": 1, "output_bytes": 1}


@pytest.mark.parametrize(
    "value",
    [{"id": "\ud800"}, {"n": 2**53}, {"n": -(2**60)}, {"n": 1e300}, {"deep": [[{"n": 10**30}]]}],
    ids=["lone-surrogate", "2**53", "-2**60", "1e300", "nested-1e30"],
)
def test_unencodable_inputs_are_refused(value: dict[str, Any]) -> None:
    """Lone surrogates and numbers beyond ±(2**53 - 1) never reach an engine."""
    assert encode_input(value) is None


@pytest.mark.parametrize(
    "value",
    [{"n": 2**53 - 1}, {"d": "sha256:" + "9" * 64}, {"s": "x: 12345678901234567890"}, {"f": 1.5}],
    ids=["max-safe", "digit-string", "number-like-string", "float"],
)
def test_plain_inputs_are_encoded(value: dict[str, Any]) -> None:
    """Safe numbers and digit strings pass unchanged."""
    assert encode_input(value) is not None


async def test_lone_surrogate_is_malformed_not_a_crash(
    engine: EmbeddedEngine, inputs: Inputs
) -> None:
    """A principal id with a lone surrogate is a malformed_input deny (it used to raise)."""
    item = inputs(["user"])
    item["principal"]["id"] = "\ud800"
    assert (await engine.decide(item)).codes == (MALFORMED_INPUT,)


def _allowed(limits: dict[str, Any]) -> dict[str, Any]:
    grants = {"filesystem": [], "network": [], "limits": limits}
    return {"allow": True, "require_approval": False, "reasons": [], "grants": grants}


def test_integral_float_limit_is_its_int() -> None:
    """64.0 (rego-cpp keeps the float of an input) parses as 64, as OPA's answer 64 does."""
    decision = parse_decision(_allowed({**LIMITS, "pids": 64.0}), "r")
    assert decision.grants.limits is not None and decision.grants.limits.pids == 64
    assert type(decision.grants.limits.pids) is int


@pytest.mark.parametrize(
    ("name", "value"),
    [("pids", 2**32), ("wall_time_ms", 1.5), ("memory_bytes", 2**63), ("output_bytes", 0)],
)
def test_limits_that_do_not_fit_the_executor_are_rejected(name: str, value: Any) -> None:
    """A limit wider than its executor field, fractional or zero is not a valid decision."""
    with pytest.raises(DecisionFormatError, match=name):
        parse_decision(_allowed({**LIMITS, name: value}), "r")


def test_package_files_join_with_their_lines_kept() -> None:
    """Files of one package become one module; each rule keeps its line for error messages."""
    modules = {
        "a.rego": "# header\npackage p.q\n\nimport data.x\n\nr1 := 1\n",
        "b.rego": "package p.q\n\nimport data.x\nimport data.y as z\n\n# METADATA\nr2 := 2\n",
        "c.rego": "package other\n\ns := 1\n",
    }
    joined = package_modules(modules)
    assert sorted(joined) == ["nexflow-control/other", "nexflow-control/p.q"]
    module = joined["nexflow-control/p.q"]
    lines = module.text.splitlines()
    assert lines[:3] == ["package p.q", "import data.x", "import data.y as z"]
    row = lines.index("r2 := 2") + 1
    assert module.locate(row) == "b.rego:7"
    assert module.locate(lines.index("r1 := 1") + 1) == "a.rego:6"


def test_conflicting_imports_cannot_be_joined() -> None:
    """Two files importing different things under one name are a clear load error."""
    modules = {
        "a.rego": "package p\n\nimport data.x as v\n\nr := v\n",
        "b.rego": "package p\n\nimport data.y as v\n\ns := v\n",
    }
    with pytest.raises(PolicyLoadError, match=r"imports data\.y as v"):
        package_modules(modules)
