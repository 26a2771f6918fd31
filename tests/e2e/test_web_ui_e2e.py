"""The web UI in a real browser: Playwright driving Debian's chromium against a real
`nexflow up` (nsjail backend).

A person logs in, filters the log, opens a call's story, approves a pending call (which
then really runs), and watches the live tail update; hostile strings in the log stay
text. Screenshots of each step land in `.artifacts/screenshots/` (kept by CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import REPO, Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("web-ui-e2e")]

playwright_api = pytest.importorskip("playwright.sync_api")

PASSWORD = "correct horse battery"
SHOTS = Path(os.environ.get("NEXFLOW_ARTIFACTS", REPO / ".artifacts")) / "screenshots"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("NEXFLOW_REQUIRE_REAL_PARTS"):
        pytest.fail("no chromium on PATH (scripts/setup.sh installs Debian's chromium)")
    pytest.skip("no chromium on PATH")


def _user(stack: Stack, name: str, roles: list[str], scopes: list[str] | None = None) -> str:
    made = stack.client.post("/api/v1/users", json={"name": name, "roles": roles})
    assert made.status_code == 201, made.text
    body: dict[str, Any] = {"name": "e2e"} if scopes is None else {"name": "e2e", "scopes": scopes}
    token = stack.client.post(f"/api/v1/users/{name}/tokens", json=body)
    assert token.status_code == 201, token.text
    return str(token.json()["token"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    stack = start_stack(
        tmp_path_factory.mktemp("web-ui"), "--sandbox", "nsjail", "--trust-skill", "echo"
    )
    _user(stack, "alice", ["operator"])
    assert (
        stack.client.put("/api/v1/users/alice/password", json={"password": PASSWORD}).status_code
        == 204
    )
    carol = httpx.Client(
        base_url=stack.url,
        headers={"Authorization": f"Bearer {_user(stack, 'carol', ['operator'])}"},
        timeout=60,
    )
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield {"stack": stack, "carol": carol, "browser": browser}
        finally:
            browser.close()
            carol.close()
            stack.stop()


@pytest.fixture
def page(world: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    context = world["browser"].new_context(base_url=world["stack"].url)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{request.node.name}-final.png"), full_page=True)
    context.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _login(page: Any, name: str = "alice", password: str = PASSWORD, *, ok: bool = True) -> None:
    page.goto("/ui/")
    page.wait_for_url(re.compile(r"/ui/login"))
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")
    if ok:
        playwright_api.expect(page.locator("#who")).to_contain_text(name)


def test_login_rejects_a_wrong_password_then_lets_the_right_one_in(page: Any) -> None:
    expect = playwright_api.expect
    _login(page, password="not the password", ok=False)
    expect(page.locator("#login-error")).to_contain_text("wrong user name or password")
    _shot(page, "01-login-failed")
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#who")).to_contain_text("alice")
    expect(page.locator("#log-table")).to_be_visible()
    expect(page.locator("#chain-status")).to_contain_text("chain verified", timeout=15_000)
    # The session cookie is out of script's reach.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["nexflow_session"]["httpOnly"] is True
    assert cookies["nexflow_session"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""
    _shot(page, "02-logged-in")


def test_filter_the_log_and_open_a_calls_story(world: dict[str, Any], page: Any) -> None:
    expect = playwright_api.expect
    carol: httpx.Client = world["carol"]
    done = carol.post("/api/v1/skills/echo", json={"input": {"message": "from carol"}})
    assert done.status_code == 200, done.text
    call_id = done.json()["call_id"]
    _login(page)
    expect(page.locator("#who")).to_contain_text("alice")
    page.fill("#filter-actor", "carol")
    page.fill("#filter-action", "call.*")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"actor=carol"))
    rows = page.locator("#log-rows tr[data-seq]")
    expect(rows.first).to_be_visible()
    actors = rows.locator("td:nth-child(4)").all_inner_texts()
    actions = rows.locator("td:nth-child(3)").all_inner_texts()
    assert actors and set(actors) == {"carol"}, actors
    assert all(a.startswith("call.") for a in actions), actions
    assert {"call.requested", "call.decided", "call.dispatched", "call.finished"} <= set(actions)
    _shot(page, "03-log-filtered")
    # The export link downloads what the filters select, with the session's cookie.
    with page.expect_download() as download:
        page.click("#export-jsonl")
    lines = Path(download.value.path()).read_text().splitlines()
    exported = [json.loads(line) for line in lines]
    assert exported and {e["actor"] for e in exported} == {"carol"}
    assert all(e["action"].startswith("call.") for e in exported)
    assert [e["seq"] for e in exported] == sorted(e["seq"] for e in exported)
    page.locator(f"a.call-link:text-is('{call_id}')").first.click()
    page.wait_for_url(re.compile(f"/ui/calls/{call_id}"))
    expect(page.locator("#call-summary [data-status]")).to_have_text("succeeded")
    stages = page.locator("#story li").evaluate_all("els => els.map(e => e.dataset.action)")
    assert stages[0] == "call.requested" and stages[-1] == "call.finished", stages
    expect(page.locator("#call-output")).to_contain_text("from carol")
    _shot(page, "04-call-story")


def test_approve_a_pending_call_in_the_browser_and_it_runs(
    world: dict[str, Any], page: Any
) -> None:
    expect = playwright_api.expect
    carol: httpx.Client = world["carol"]
    asked = carol.post(
        "/api/v1/skills/shell-run", json={"input": {"command": "echo approved-$((6*7))"}}
    )
    assert asked.status_code == 202, asked.text
    approval_id, call_id = asked.json()["approval_id"], asked.json()["call_id"]
    _login(page)
    expect(page.locator("#pending-count")).not_to_have_text("0")
    page.click("#nav-approvals")
    card = page.locator(f".approval[data-approval='{approval_id}']")
    expect(card).to_contain_text("shell-run")
    expect(card).to_contain_text("carol")
    _shot(page, "05-approvals-pending")
    card.locator("button.approve").click()
    expect(page.locator("#toast")).to_contain_text("granted")
    page.goto(f"/ui/calls/{call_id}")
    deadline = time.monotonic() + 30
    while page.locator("#call-summary [data-status]").inner_text() != "succeeded":
        assert time.monotonic() < deadline, "the approved call never finished"
        time.sleep(0.5)
        page.reload()
    expect(page.locator("#call-output")).to_contain_text("approved-42")
    actions = page.locator("#story li").evaluate_all("els => els.map(e => e.dataset.action)")
    assert actions.index("approval.requested") < actions.index("approval.granted")
    assert actions.index("approval.granted") < actions.index("call.dispatched")
    _shot(page, "06-approved-call-ran")
    # The approver was the browser's user, through the session.
    granted = world["stack"].client.get("/api/v1/audit", params={"call_id": call_id}).json()
    event = next(e for e in granted["events"] if e["action"] == "approval.granted")
    assert event["actor"] == "alice"


def test_live_tail_shows_new_events_as_they_happen(world: dict[str, Any], page: Any) -> None:
    expect = playwright_api.expect
    carol: httpx.Client = world["carol"]
    _login(page)
    page.goto("/ui/?actor=carol")
    expect(page.locator("#log-rows tr").first).to_be_visible()
    page.check("#live-tail")
    expect(page.locator("#live-state")).to_have_text("live")
    before = page.locator("#log-rows tr.fresh").count()
    done = carol.post("/api/v1/skills/echo", json={"input": {"message": "tail me"}})
    assert done.status_code == 200
    call_id = done.json()["call_id"]
    fresh = page.locator(f"#log-rows tr.fresh:has(a:text-is('{call_id}'))")
    expect(fresh.filter(has_text="call.finished")).to_have_count(1, timeout=10_000)
    assert page.locator("#log-rows tr.fresh").count() >= before + 4
    # Other people's events do not match the filter and stay out.
    world["stack"].call("echo", {"message": "admin, not carol"})
    time.sleep(1.5)
    assert set(page.locator("#log-rows tr.fresh td:nth-child(4)").all_inner_texts()) == {"carol"}
    _shot(page, "07-live-tail")


def test_hostile_strings_in_the_log_stay_text(world: dict[str, Any], page: Any) -> None:
    """A skill input crafted as HTML/script is shown as text: nothing runs, no element
    is injected (the UI never builds HTML from data, and CSP forbids inline script)."""
    expect = playwright_api.expect
    carol: httpx.Client = world["carol"]
    payload = '<img src=x onerror="alert(document.domain)"><script>alert(1)</script>'
    done = carol.post("/api/v1/skills/echo", json={"input": {"message": payload}})
    assert done.status_code == 200
    _login(page)
    page.goto(f"/ui/calls/{done.json()['call_id']}")
    expect(page.locator("#call-output")).to_contain_text("<img src=x")
    assert page.locator("#app img").count() == 0
    assert page.locator("#app script").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []


def test_logout_ends_the_session_for_good(world: dict[str, Any], page: Any) -> None:
    expect = playwright_api.expect
    _login(page)
    expect(page.locator("#who")).to_contain_text("alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "nexflow_session")
    page.click("#logout")
    page.wait_for_url(re.compile(r"/ui/login"))
    replay = httpx.get(
        f"{world['stack'].url}/api/v1/audit",
        cookies={"nexflow_session": cookie["value"]},
    )
    assert replay.status_code == 401
    assert replay.json()["error"] == "session_expired"
    page.goto("/ui/approvals")
    page.wait_for_url(re.compile(r"/ui/login\?next="))


def test_a_user_changes_their_password_in_the_browser(world: dict[str, Any], page: Any) -> None:
    expect = playwright_api.expect
    stack: Stack = world["stack"]
    _user(stack, "pat", ["viewer"])
    first = "pat's first password"
    assert stack.client.put("/api/v1/users/pat/password", json={"password": first}).is_success
    _login(page, "pat", first)
    page.click("#who")
    page.fill("#password-current", "not my password")
    page.fill("#password-new", "pat's second password")
    page.fill("#password-again", "pat's second password")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#password-error")).to_contain_text("wrong user name or password")
    page.fill("#password-current", first)
    page.click("#password-form button[type=submit]")
    page.wait_for_url(re.compile(r"/ui/login"))
    _shot(page, "08-password-changed")
    _login(page, "pat", "pat's second password")
    expect(page.locator("#who")).to_contain_text("pat")
