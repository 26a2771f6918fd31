"""The real Chromium for the web UI tests, launched once per module that asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.e2e.test_web_ui_e2e import _chromium

playwright_api = pytest.importorskip("playwright.sync_api")


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """Playwright driving Debian's chromium (headless, no GPU); closed on the way out."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()
