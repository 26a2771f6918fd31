"""Fixtures for the schedule store tests: a real SQLite file or a real PostgreSQL database."""

from __future__ import annotations

import pytest

from tests.pg import backend, db_url, parametrize_backends

__all__ = ["backend", "db_url"]  # the fixtures this folder's tests use


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc, sqlite_fixtures=set())
