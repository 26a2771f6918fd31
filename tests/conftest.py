"""Fixtures for cross-service tests: a real `nexflow up` on a temporary home and a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import BACKENDS, REPO, Stack, start_stack

__all__ = ["REPO", "Stack", "start_stack"]


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack per sandbox backend shared by a test module (tests must not depend on each
    other's state): every test that uses it runs on Docker and on nsjail."""
    s = start_stack(tmp_path_factory.mktemp("stack"), "--sandbox", str(request.param))
    yield s
    s.stop()


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack for one test that breaks or stops it."""
    s = start_stack(tmp_path)
    yield s
    s.stop()
