"""The real OPA binary: policy tests, strict check, formatting, and parity with regopy."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.policy import EmbeddedEngine, parse_decision

OPA = Path(sys.executable).with_name("opa")
POLICIES = Path(__file__).resolve().parents[3] / "policies"
Inputs = Callable[..., dict[str, Any]]

pytestmark = [pytest.mark.opa]


def _opa(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPA), *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ("test", str(POLICIES)),
        ("check", "--strict", str(POLICIES)),
        ("fmt", "--fail", "-l", str(POLICIES)),
    ],
)
def test_opa_gate_passes(args: tuple[str, ...]) -> None:
    """opa test, opa check --strict and opa fmt --fail all pass on the policies."""
    result = _opa(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def _cases(inputs: Inputs) -> list[dict[str, Any]]:
    approved = inputs(["admin"], ["shell"])
    approved["context"]["approved"] = True
    escape = inputs(["user"], ["filesystem"], filesystem=[{"path": "/ws", "mode": "rw"}])
    escape["context"]["workspace"] = "/ws"
    escape["call"]["paths"] = [
        {"field": "p", "value": "x", "resolved": "/ws-evil/x", "access": "read"}
    ]
    dotdot = json.loads(json.dumps(escape))
    dotdot["call"]["paths"][0]["resolved"] = "/ws/../etc/shadow"
    no_principal = inputs()
    del no_principal["principal"]
    no_id = inputs(["admin"])
    del no_id["principal"]["id"]
    return [
        inputs(["user"], ["filesystem"]),
        inputs(["viewer"]),
        inputs(["ghost"]),
        inputs(["admin"], ["shell", "secrets"]),
        approved,
        inputs(["operator"], ["network"], network=["api.github.com:443"]),
        inputs(limits={"memory_bytes": 2**40}),
        inputs(limits={"pids": 1.5}),
        inputs(["admin"], name="fïle"),
        escape,
        dotdot,
        no_principal,
        no_id,
    ]


def _normal(decision: Any) -> tuple[Any, ...]:
    d = parse_decision(decision, "r")
    return (
        d.allow,
        d.require_approval,
        sorted(d.reasons, key=lambda r: (r.code, r.message)),
        d.grants,
    )


async def test_embedded_and_opa_agree(inputs: Inputs) -> None:
    """regopy and opa eval give the same decision for a spread of inputs."""
    engine = EmbeddedEngine(POLICIES)
    for item in _cases(inputs):
        result = _opa(
            "eval",
            "--format",
            "json",
            "--stdin-input",
            "-d",
            str(POLICIES),
            "data.nexflow.authz.decision",
            stdin=json.dumps(item),
        )
        assert result.returncode == 0, result.stderr
        opa_value = json.loads(result.stdout)["result"][0]["expressions"][0]["value"]
        embedded = await engine.decide(item)
        mine = (
            embedded.allow,
            embedded.require_approval,
            sorted(embedded.reasons, key=lambda r: (r.code, r.message)),
            embedded.grants,
        )
        assert mine == _normal(opa_value), item
