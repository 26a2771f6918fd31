"""Fixtures for the policy tests: the repository's policies in an embedded engine."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.policy import (
    EmbeddedEngine,
    LocalOpaServer,
    OpaServerEngine,
    PolicyWatcher,
    ReloadResult,
)

from tests.policy_input import policy_input

REPO = Path(__file__).resolve().parents[3]
POLICIES = REPO / "policies"
OPA = Path(sys.executable).with_name("opa")

make_input = policy_input  # a well-formed input for principal alice calling file-read


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


@pytest.fixture(scope="module")
def opa_server() -> Iterator[LocalOpaServer]:
    """A real `opa run --server` on a free port, one per test module."""
    with LocalOpaServer() as server:
        yield server


async def reloaded(engine: EmbeddedEngine | OpaServerEngine, policies: Path) -> ReloadResult:
    """Let a real PolicyWatcher notice the change in ``policies`` and reload ``engine``
    (asserts it did, and reported the reload exactly once)."""
    seen: list[ReloadResult] = []

    async def on_reload(result: ReloadResult, _revision: str | None) -> None:
        seen.append(result)

    result = await PolicyWatcher(engine, policies, 0.05, on_reload).check()
    assert result is not None and result.changed and seen == [result]
    return result
