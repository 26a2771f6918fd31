"""The chat page in a real Chromium against `nexflow up` with an LLM configured: `up`
starts the gateway itself, the page streams a turn, links each tool step to its call in
the log viewer, and its Approve button is the logged-in person's own approval."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.tests.conftest import API_KEY
from gateway.tests.scripted_llm import ScriptedLLM, call, say
from tests.e2e.browser import chromium_browser
from tests.e2e.test_web_ui_e2e import PASSWORD, _login, _shot, _user
from tests.harness import Stack, start_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.nsjail,
    pytest.mark.browser,
    pytest.mark.xdist_group("gateway-e2e"),
]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def world(llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`nexflow up` with the scripted model configured, and alice who may log in."""
    stack = start_stack(
        tmp_path_factory.mktemp("chat-page"),
        "--sandbox",
        "nsjail",
        env={
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "NEXFLOW_LLM__MODEL": "openai/gpt-4o-mini",
            "NEXFLOW_LLM__API_BASE": llm.api_base,
            "NEXFLOW_LLM__API_KEY": API_KEY,
        },
    )
    _user(stack, "alice", ["operator"])
    changed = stack.client.put("/api/v1/users/alice/password", json={"password": PASSWORD})
    assert changed.status_code == 204
    _wait_for_chat(stack)
    try:
        with chromium_browser() as browser:
            yield {"stack": stack, "browser": browser}
    finally:
        stack.stop()


def _wait_for_chat(stack: Stack) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if stack.client.get("/api/v1/sessions").status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"the gateway `nexflow up` started never answered:\n{stack.log_path.read_text()}"
    )


def test_chat_page_streams_links_steps_and_approves_as_the_human(
    world: dict[str, Any], llm: ScriptedLLM
) -> None:
    """A turn in the browser: the step links to its call, the pending shell call shows
    Approve/Deny, and pressing Approve is alice's own approval (refused: her own call)."""
    expect = playwright_api.expect
    stack: Stack = world["stack"]
    context = world["browser"].new_context(base_url=stack.url)
    page = context.new_page()
    try:
        _login(page)
        page.click("#nav-chat")
        page.wait_for_url(re.compile(r"/ui/chat"))
        llm.script(
            call(("echo", '{"message": "from the page"}'), ("shell-run", '{"command": "true"}')),
            say("echo said hello and the shell waits for you"),
        )
        page.fill("#chat-input", "/strong run both")
        page.click("#chat-send")
        expect(page.locator(".chat-assistant").last).to_contain_text(
            "echo said hello and the shell waits for you", timeout=60_000
        )
        steps = page.locator(".chat-step")
        expect(steps).to_have_count(2)
        expect(steps.first).to_contain_text("succeeded")
        expect(page.locator("#chat-usage")).to_contain_text("tokens")
        expect(page.locator("#chat-usage")).to_contain_text("$0.0000")
        approval = page.locator(".chat-approval")
        expect(approval).to_contain_text("approval_required_shell")
        _shot(page, "chat-01-turn")
        approval.locator("button.approve").click()
        expect(page.locator("#toast")).to_contain_text("policy does not allow 'alice'")
        pending = stack.client.get("/api/v1/approvals", params={"status": "pending"}).json()
        assert len(pending["approvals"]) == 1, "nothing the page did approved the call"
        expect(page.locator("#chat-sessions li")).to_have_count(1)
        call_id = steps.first.locator("a.call-link").inner_text()
        steps.first.locator("a.call-link").click()
        page.wait_for_url(re.compile(rf"/ui/calls/{call_id}"))
        expect(page.locator("main")).to_contain_text("succeeded")
        _shot(page, "chat-02-step-in-log")
    finally:
        context.close()
    story = stack.client.get(f"/api/v1/calls/{call_id}").json()
    assert {e["actor"] for e in story["events"] if e["actor"]} == {"alice"}


def test_chat_page_without_a_gateway_says_how_to_configure(
    world: dict[str, Any], stack: Stack
) -> None:
    """A stack with the web chat off: the chat page says how to turn it on."""
    _user(stack, "alice", ["operator"])
    changed = stack.client.put("/api/v1/users/alice/password", json={"password": PASSWORD})
    assert changed.status_code == 204
    context = world["browser"].new_context(base_url=stack.url)
    page = context.new_page()
    try:
        _login(page)
        page.goto("/ui/chat")
        playwright_api.expect(page.locator("#chat-unavailable")).to_contain_text("NEXFLOW_WEB_CHAT")
    finally:
        context.close()
    assert httpx.get(f"{stack.url}/api/v1/sessions", timeout=10).status_code in (401, 503)
