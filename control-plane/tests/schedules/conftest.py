"""Fixtures for the schedule store tests: a real SQLite file or a real PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg import parametrize_backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, sqlite_fixtures=set())


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres" (parametrized by `pytest_generate_tests`)."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'nexflow.db'}"
