"""Repository-wide pytest hooks.

CI provides every real part (nsjail, OPA, ...), so under `NEXFLOW_REQUIRE_REAL_PARTS=1`
(set by `make test`) a test that skips is reported as a failure: a missing part must
never turn a security test into a silent pass.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

from tests.pg import PgServer, PgUnavailable


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    required = os.environ.get("NEXFLOW_REQUIRE_REAL_PARTS") == "1"
    if required and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped, but every real part is required here: {reason}"
    return report


@pytest.fixture(scope="session")
def pg_server() -> Generator[PgServer, None, None]:
    """A real PostgreSQL server for this session (one per xdist worker, so none collide).

    Skips when PostgreSQL cannot start, which `NEXFLOW_REQUIRE_REAL_PARTS=1` turns into a
    failure (above).
    """
    try:
        server = PgServer.start(
            prefix=f"nexflow-pg-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-"
        )
    except PgUnavailable as exc:
        pytest.skip(f"PostgreSQL cannot be started: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's server (its SQLAlchemy async URL)."""
    return pg_server.create_database()
