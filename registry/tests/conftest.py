"""The registry's server fixtures: each server test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.tests.server import Server, new_publisher, start


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A real `nexflow-registry serve` on SQLite in its home, or on a fresh PostgreSQL
    database."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    running = start(tmp_path / "home", database_url=url)
    yield running
    running.stop()


@pytest.fixture
def publisher(server: Server, tmp_path: Path) -> tuple[str, Path]:
    """A publisher `acme` with a registered key; (its publish token, its private key file)."""
    return new_publisher(server, "acme", tmp_path / "acme.key"), tmp_path / "acme.key"
