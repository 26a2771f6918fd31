"""Fixtures for the policy tests: the repository's policies in an embedded engine."""

from __future__ import annotations

import copy
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.policy import EmbeddedEngine

REPO = Path(__file__).resolve().parents[3]
POLICIES = REPO / "policies"
OPA = Path(sys.executable).with_name("opa")
WORKSPACE = "/home/me/workspace"


def make_input(
    roles: list[str] | None = None,
    permissions: list[str] | None = None,
    **skill: Any,
) -> dict[str, Any]:
    """A well-formed policy input for principal ``alice`` calling ``file-read``."""
    base: dict[str, Any] = {
        "principal": {
            "id": "alice",
            "roles": ["user"] if roles is None else roles,
            "channel": "http",
        },
        "skill": {
            "name": "file-read",
            "version": "1.0.0",
            "digest": "sha256:" + "0" * 64,
            "publisher": "nexflow",
            "source": "builtin",
            "permissions": permissions or [],
            "runtime": "python",
            "tags": ["files"],
        },
        "call": {"id": "c_1", "input_sha256": "0" * 64, "paths": []},
        "context": {
            "workspace": WORKSPACE,
            "time": "2026-11-21T10:00:00Z",
            "approved": False,
            "recent_calls": 0,
        },
    }
    base["skill"].update(copy.deepcopy(skill))
    return base


@pytest.fixture(scope="module")
def engine() -> EmbeddedEngine:
    """The repository's policies, compiled once per test module."""
    return EmbeddedEngine(POLICIES)


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A private copy of the repository's policies that a test may break."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


@pytest.fixture
def inputs() -> Callable[..., dict[str, Any]]:
    """The ``make_input`` builder."""
    return make_input
