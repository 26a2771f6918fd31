"""Repository-wide pytest hooks.

CI provides every real part (nsjail, OPA, ...), so under `NEXFLOW_REQUIRE_REAL_PARTS=1`
(set by `make test`) a test that skips is reported as a failure: a missing part must
never turn a security test into a silent pass.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


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
