"""The Registry page in a real browser (Playwright, Debian's chromium) against a real
`nexflow up` and a real `nexflow-registry serve`: installed skills with their proof and
scan verdict, an update's permission diff approved with one click, and the log's
checkpoint checked against the last one an install saw."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry.tests.server import new_publisher, start
from tests.e2e.browser import chromium_browser
from tests.e2e.test_marketplace_e2e import _lock, _publish
from tests.e2e.test_web_ui_e2e import PASSWORD, _login, _shot, _user
from tests.harness import Stack, start_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.nsjail,
    pytest.mark.browser,
    pytest.mark.xdist_group("registry-ui-e2e"),
]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("registry-ui")
    server = start(tmp / "registry")
    key = tmp / "acme.key"
    token = new_publisher(server, "acme", key)
    stack = start_stack(tmp / "cp", "--sandbox", "nsjail")
    _user(stack, "root", ["admin"])
    assert (
        stack.client.put("/api/v1/users/root/password", json={"password": PASSWORD}).status_code
        == 204
    )
    try:
        with chromium_browser() as browser:
            yield {"stack": stack, "registry": (server, token, key), "tmp": tmp, "browser": browser}
    finally:
        stack.stop()
        server.stop()


def test_the_registry_page_shows_installs_approves_a_diff_and_checks_the_log(
    world: dict[str, Any],
) -> None:
    """A signed install and an unsigned folder install are listed with version, publisher,
    verified state and scan verdict; an update's `+ host` diff is approved from the page
    (the lockfile then has no pending diff); the checkpoint shown is the registry's and is
    consistent with the last one seen."""
    expect = playwright_api.expect
    stack: Stack = world["stack"]
    reg = world["registry"]
    tmp: Path = world["tmp"]
    server = reg[0]
    _publish(reg, tmp, "hello-ui", "1.0.0")
    done = stack.cli("skill", "install", "hello-ui", "--registry", server.url)
    assert done.returncode == 0, done.stderr
    extra = "permissions: [network]\nsandbox:\n  network: [api.example.com]\n"
    _publish(reg, tmp, "hello-ui", "1.1.0", extra=extra)
    assert stack.cli("skill", "update", "hello-ui").returncode == 0
    local = tmp / "src" / "hello-local"
    local.mkdir(parents=True)
    (local / "SKILL.md").write_text(
        "---\nname: hello-local\ndescription: A local one.\nversion: 2.0.0\n"
        "location: ./run.py\nruntime: python\n---\n\nEcho.\n"
    )
    (local / "run.py").write_text("print('{}')\n")
    assert stack.cli("skill", "install", str(local)).returncode == 0

    context = world["browser"].new_context(base_url=stack.url)
    page = context.new_page()
    try:
        _login(page, "root")
        page.click("#nav-registry")
        signed = page.locator("#installed tr[data-skill='hello-ui']")
        expect(signed).to_contain_text("1.1.0")
        expect(signed).to_contain_text("acme")
        expect(signed.locator("td.verified")).to_have_attribute("data-verified", "true")
        expect(signed.locator("td.scan")).to_have_attribute("data-verdict", "clean")
        expect(signed.locator(".consent-diff")).to_contain_text("+ host api.example.com")
        unsigned = page.locator("#installed tr[data-skill='hello-local']")
        expect(unsigned.locator("td.verified")).to_have_attribute("data-verified", "false")
        expect(unsigned).to_contain_text("2.0.0")
        log = page.locator("#registry-log")
        expect(log).to_have_attribute("data-consistent", "true")
        checkpoint = server.checkpoint()
        expect(page.locator("#log-registry")).to_have_text(server.url)
        expect(page.locator("#log-size")).to_have_text(str(checkpoint.size))
        expect(page.locator("#log-root")).to_have_text(base64.b64encode(checkpoint.root).decode())
        expect(page.locator("#log-consistency")).to_contain_text("consistent with the last")
        _shot(page, "registry-01-pending")
        signed.locator("button.approve-consent").click()
        expect(page.locator("#toast")).to_contain_text("hello-ui: the update's permissions")
        expect(page.locator("#installed tr[data-skill='hello-ui'] .consent-diff")).to_have_count(0)
        assert _lock(stack)["hello-ui"]["consent_diff"]["hosts"] == []
        _shot(page, "registry-02-approved")
    finally:
        context.close()
