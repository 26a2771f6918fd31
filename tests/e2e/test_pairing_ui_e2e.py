"""Pairing in a real browser (Playwright, Debian's chromium) against a real `nexflow up`:
an admin confirms a chat sender's pairing code on the Pairing page, and the log viewer
then shows the chat that sender's calls came from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser import chromium_browser
from tests.e2e.test_web_ui_e2e import PASSWORD, _login, _shot, _user
from tests.harness import Stack, start_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.nsjail,
    pytest.mark.browser,
    pytest.mark.xdist_group("pairing-ui-e2e"),
]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    stack = start_stack(tmp_path_factory.mktemp("pairing-ui"), "--sandbox", "nsjail")
    _user(stack, "root", ["admin"])
    assert (
        stack.client.put("/api/v1/users/root/password", json={"password": PASSWORD}).status_code
        == 204
    )
    _user(stack, "alice", ["operator"])
    gateway = _user(stack, "gw", ["viewer"], ["calls:run_as", "approvals:relay"])
    try:
        with chromium_browser() as browser:
            yield {"stack": stack, "gateway": gateway, "browser": browser}
    finally:
        stack.stop()


def test_admin_confirms_a_pairing_code_and_the_log_shows_the_chat(
    world: dict[str, Any],
) -> None:
    """The code a stranger got is listed; Confirm for alice links the identity; the
    sender's next call is alice's, and its log row names the chat it came from."""
    expect = playwright_api.expect
    stack: Stack = world["stack"]
    gw = {"Authorization": f"Bearer {world['gateway']}"}
    asked = stack.client.post(
        "/api/v1/pairings",
        json={"identity": "telegram:777", "channel": "telegram:-42"},
        headers=gw,
    )
    assert asked.status_code == 201, asked.text
    code = asked.json()["code"]
    context = world["browser"].new_context(base_url=stack.url)
    page = context.new_page()
    try:
        _login(page, "root")
        page.click("#nav-pairings")
        card = page.locator(f".pairing[data-code='{code}']")
        expect(card).to_contain_text("telegram:777")
        _shot(page, "pairing-01-pending")
        card.locator("input.pairing-user").fill("alice")
        card.locator("button.confirm").click()
        expect(page.locator("#toast")).to_contain_text("telegram:777 is now alice")
        expect(page.locator("#no-pairings")).to_be_visible()
        ran = stack.client.post(
            "/api/v1/skills/echo",
            json={"input": {"message": "paired"}},
            headers={
                **gw,
                "X-Nexflow-On-Behalf-Of": "telegram:777",
                "X-Nexflow-Channel": "telegram:-42",
            },
        )
        assert ran.status_code == 200, ran.text
        page.goto("/ui/?actor=alice&action=call.requested")
        row = page.locator("#log-rows tr[data-action='call.requested']").first
        expect(row.locator("td:nth-child(4)")).to_have_text("alice via telegram:-42")
        _shot(page, "pairing-02-log-channel")
    finally:
        context.close()
