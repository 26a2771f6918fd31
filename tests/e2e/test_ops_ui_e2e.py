"""The operator pages in a real browser (Playwright, Debian's chromium) against a real
`nexflow up` (nsjail): calls (one row per call, filters, link to the story), overview
(hourly chart and top denials, drawn as SVG), skills (state, schemas, last runs),
schedules (pause, resume, delete) and secrets (grants, last read, set/rotate/delete;
no value ever in the page)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser import chromium_browser
from tests.e2e.test_web_ui_e2e import PASSWORD, _login, _shot, _user
from tests.harness import REPO, Stack, start_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.nsjail,
    pytest.mark.browser,
    pytest.mark.xdist_group("ops-ui-e2e"),
]

playwright_api = pytest.importorskip("playwright.sync_api")

VALUE = "Vx7Qm2Lr9Tz4Kp8Wc3Nb6Hd"
ROTATED = "Jf5Gs1Yt8Rq3Xe6Ua2Mo9Pi"

_SKILL = """\
---
name: keyed
description: reads its API key (ops UI tests)
version: 1.0.0
author: tests
location: ./run.py
runtime: python
permissions: [secrets]
secrets: [api_key]
---

## Input schema

```json
{"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": false}
```
"""


def _policy(tmp: Path) -> Path:
    target = tmp / "policies"
    shutil.copytree(REPO / "policies", target)
    data = json.loads((target / "data.json").read_text())
    cfg = data["nexflow"]["config"]
    cfg["secrets"]["grants"] = [
        {"secret": "api_key", "skills": ["keyed"], "principals": [], "roles": ["operator"]},
        {"secret": "unset_key", "skills": ["*"], "principals": ["carol"]},
    ]
    cfg["approvals"]["required_for"] = ["shell"]
    cfg["skills"]["gated"] = {"enabled": False}
    cfg["roles"]["operator"]["permissions"].append("secrets")
    (target / "data.json").write_text(json.dumps(data))
    return target


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ops-ui")
    skills = tmp / "skills" / "keyed"
    skills.mkdir(parents=True)
    (skills / "SKILL.md").write_text(_SKILL)
    gated = tmp / "skills" / "gated"
    gated.mkdir()
    (gated / "SKILL.md").write_text(
        _SKILL.replace("keyed", "gated")
        .replace("secrets: [api_key]\n", "")
        .replace("[secrets]", "[]")
    )
    (gated / "run.py").write_text("print('{}')\n")
    (skills / "run.py").write_text(
        "import os\nprint('{\"len\": %d}' % len(os.environ['NEXFLOW_SECRET_API_KEY']))\n"
    )
    stack = start_stack(
        tmp,
        "--sandbox",
        "nsjail",
        "--skills",
        str(tmp / "skills"),
        "--trust-skill",
        "echo",
        "--trust-skill",
        "keyed",
        env={"NEXFLOW_POLICY_DIR": str(_policy(tmp))},
    )
    _user(stack, "root", ["admin"])
    assert (
        stack.client.put("/api/v1/users/root/password", json={"password": PASSWORD}).status_code
        == 204
    )
    carol = httpx.Client(
        base_url=stack.url,
        headers={"Authorization": f"Bearer {_user(stack, 'carol', ['operator'])}"},
        timeout=60,
    )
    with chromium_browser() as browser:
        try:
            yield {"stack": stack, "carol": carol, "browser": browser}
        finally:
            carol.close()
            stack.stop()


@pytest.fixture
def page(world: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    context = world["browser"].new_context(base_url=world["stack"].url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Script errors only: a 401 before login and the favicon's 404 are the network's.
    page.on(
        "console",
        lambda m: (
            m.type == "error" and "Failed to load resource" not in m.text and errors.append(m.text)
        ),
    )
    yield page
    _shot(page, f"ops-{request.node.name}-final")
    context.close()
    assert errors == [], errors


def test_calls_page_one_row_per_call_filters_and_links_to_the_story(
    world: dict[str, Any], page: Any
) -> None:
    """Each call is one row (skill, user, outcome, duration); filtering by user and by
    outcome narrows it, and a row's link opens that call's story."""
    expect = playwright_api.expect
    carol: httpx.Client = world["carol"]
    ran = carol.post("/api/v1/skills/echo", json={"input": {"message": "row"}})
    assert ran.status_code == 200, ran.text
    call_id = ran.json()["call_id"]
    denied = carol.post("/api/v1/skills/gated", json={"input": {}})
    assert denied.status_code == 403, denied.text
    denied_id = denied.json()["call_id"]
    _login(page, "root")
    page.click("#nav-calls")
    row = page.locator(f"#calls-table tr[data-call='{call_id}']")
    expect(row).to_contain_text("echo")
    expect(row).to_contain_text("carol")
    expect(row.locator("[data-status]")).to_have_text("succeeded")
    assert re.search(r"\d+(\.\d)? m?s", row.locator("td:nth-child(8)").inner_text())
    deny_row = page.locator(f"#calls-table tr[data-call='{denied_id}']")
    expect(deny_row.locator("[data-status]")).to_have_text("denied")
    expect(deny_row).to_contain_text("skill_disabled")
    assert page.locator(f"#calls-table tr[data-call='{call_id}']").count() == 1
    _shot(page, "ops-01-calls")
    page.select_option("#calls-outcome", "denied")
    page.fill("#calls-actor", "carol")
    page.click("#calls-apply")
    page.wait_for_url(re.compile(r"outcome=denied"))
    expect(page.locator(f"#calls-table tr[data-call='{denied_id}']")).to_be_visible()
    outcomes = page.locator("#calls-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.outcome)"
    )
    assert outcomes and set(outcomes) == {"denied"}, outcomes
    page.fill("#calls-actor", "nobody-by-this-name")
    page.click("#calls-apply")
    expect(page.locator("#calls-table-empty")).to_contain_text("No call matches")
    page.goto("/ui/calls?actor=carol")
    page.locator(f"#calls-table tr[data-call='{call_id}'] a.call-link").click()
    page.wait_for_url(re.compile(f"/ui/calls/{call_id}$"))
    expect(page.locator("#call-summary [data-status]")).to_have_text("succeeded")


def test_overview_draws_calls_per_hour_and_top_denials(world: dict[str, Any], page: Any) -> None:
    """The overview's SVG bars add up to the calls that ended this hour by outcome, and
    the denial chart names skill_disabled and links to the log filtered by it."""
    carol: httpx.Client = world["carol"]
    for _ in range(2):
        assert carol.post("/api/v1/skills/gated", json={"input": {}}).status_code == 403
    stats = carol.get("/api/v1/stats/calls", params={"hours": 24})
    assert stats.status_code == 200, stats.text
    last = stats.json()["hours"][-1]["counts"]
    assert last.get("denied", 0) >= 2
    _login(page, "root")
    page.click("#nav-overview")
    playwright_api.expect(page.locator("#hourly-chart rect.bar").first).to_be_visible()
    drawn = page.locator("#hourly-chart rect.bar").evaluate_all(
        "bars => bars.map(b => [b.dataset.hour, b.dataset.outcome, Number(b.dataset.count)])"
    )
    newest = stats.json()["hours"][-1]["hour"]  # the hour asked about, even if one began since
    assert {o: n for h, o, n in drawn if h == newest} == last
    heights = page.locator("#hourly-chart rect.bar-denied").evaluate_all(
        "bars => bars.map(b => b.getBBox().height)"
    )
    assert heights and all(h > 0 for h in heights)
    _shot(page, "ops-02-overview")
    # A bar opens the calls of that hour and outcome.
    page.locator(f"#hourly-chart rect.bar-denied[data-hour='{newest}']").click()
    page.wait_for_url(re.compile(r"/ui/calls\?outcome=denied&since="))
    playwright_api.expect(page.locator("#calls-table tbody tr").first).to_be_visible()
    shown = page.locator("#calls-table tbody tr").evaluate_all(
        "rs => rs.map(r => r.dataset.outcome)"
    )
    assert len(shown) == last["denied"] and set(shown) == {"denied"}, shown
    page.go_back()
    denial = page.locator("#denial-chart a.denial[data-code='skill_disabled']")
    playwright_api.expect(denial).to_be_visible()
    denial.locator("rect").click()
    page.wait_for_url(re.compile(r"reason_code=skill_disabled"))
    playwright_api.expect(page.locator("#log-rows tr[data-seq]").first).to_be_visible()
    page.goto("/ui/overview?hours=24")
    page.select_option("#overview-hours", "168")
    page.wait_for_url(re.compile(r"hours=168"))
    playwright_api.expect(page.locator("#overview-hours")).to_have_value("168")
    playwright_api.expect(page.locator("#hourly-chart rect.bar").first).to_be_visible()
    assert page.locator("#hourly-chart rect.bar").count() >= len(last)


def test_skills_page_shows_state_schemas_and_last_runs(world: dict[str, Any], page: Any) -> None:
    """A disabled skill says so; opening echo shows its input schema and its last runs,
    which link to the calls."""
    expect = playwright_api.expect
    carol: httpx.Client = world["carol"]
    ran = carol.post("/api/v1/skills/echo", json={"input": {"message": "skills page"}})
    assert ran.status_code == 200, ran.text
    _login(page, "root")
    page.click("#nav-skills")
    expect(page.locator("#skill-rows tr[data-skill='gated'] .state").first).to_have_text("disabled")
    echo = page.locator("#skill-rows tr[data-skill='echo']")
    expect(echo.locator(".state").first).to_have_text("enabled")
    expect(echo).to_contain_text("succeeded")
    echo.locator("button.open-skill").click()
    detail = page.locator(".skill-detail[data-detail='echo']")
    expect(detail.locator("pre.input-schema")).to_contain_text('"message"')
    expect(detail.locator(f"tr[data-call='{ran.json()['call_id']}']")).to_be_visible()
    _shot(page, "ops-03-skills")


def test_schedules_page_pauses_resumes_and_deletes(world: dict[str, Any], page: Any) -> None:
    """A schedule made over the API is listed; Pause, Resume and a confirmed Delete each
    change it on the server."""
    expect = playwright_api.expect
    stack: Stack = world["stack"]
    made = stack.client.post(
        "/api/v1/schedules",
        json={"skill": "echo", "input": {"message": "later"}, "cron": "0 3 * * *"},
    )
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    _login(page, "root")
    page.click("#nav-schedules")
    row = page.locator(f"#schedules-table tr[data-schedule='{sid}']")
    expect(row.locator("[data-status]")).to_have_text("active")
    row.locator("button.pause").click()
    expect(page.locator(f"tr[data-schedule='{sid}'] [data-status]")).to_have_text("paused")
    assert stack.client.get(f"/api/v1/schedules/{sid}").json()["status"] == "paused"
    page.locator(f"tr[data-schedule='{sid}'] button.resume").click()
    expect(page.locator(f"tr[data-schedule='{sid}'] [data-status]")).to_have_text("active")
    _shot(page, "ops-04-schedules")
    delete = page.locator(f"tr[data-schedule='{sid}'] button.delete-schedule")
    delete.click()
    expect(delete).to_have_text("Really delete?")
    assert stack.client.get(f"/api/v1/schedules/{sid}").status_code == 200
    delete.click()
    expect(page.locator("#schedules-table-empty")).to_contain_text("No schedules")
    assert stack.client.get(f"/api/v1/schedules/{sid}").status_code == 404


def test_secrets_page_sets_rotates_deletes_and_never_shows_a_value(
    world: dict[str, Any], page: Any
) -> None:
    """An admin adds api_key, a call reads it (last read shows that call), rotates and
    deletes it; the grants from the policy are listed, and neither value is ever in
    the page's HTML nor in an input afterwards."""
    expect = playwright_api.expect
    carol: httpx.Client = world["carol"]
    _login(page, "root")
    page.click("#nav-secrets")
    unset = page.locator("#secrets-table tr[data-secret='unset_key']")
    expect(unset).to_contain_text("not set")
    expect(unset.locator("td.grants")).to_contain_text("* for carol")
    page.fill("#new-secret-name", "api_key")
    page.fill("#new-secret input.secret-value", VALUE)
    page.click("#new-secret button.create")
    expect(page.locator("#toast")).to_contain_text("api_key stored (v1)")
    row = page.locator("#secrets-table tr[data-secret='api_key']")
    expect(row).to_contain_text("v1")
    expect(row.locator("td.grants")).to_contain_text("keyed for role operator")
    expect(row.locator("td.last-read")).to_contain_text("never read")
    ran = carol.post("/api/v1/skills/keyed", json={"input": {}})
    assert ran.status_code == 200, ran.text
    assert ran.json()["output"] == {"len": len(VALUE)}
    page.reload()
    expect(row.locator("td.last-read")).to_contain_text("by carol for keyed")
    expect(row.locator(f"a.call-link:text-is('{ran.json()['call_id']}')")).to_be_visible()
    row.locator("input.rotate").fill(ROTATED)
    row.locator("button.rotate").click()
    expect(page.locator("#toast")).to_contain_text("api_key is now v2")
    _shot(page, "ops-05-secrets")
    values = page.locator("input").evaluate_all("inputs => inputs.map(i => i.value)")
    html = page.content()
    for secret in (VALUE, ROTATED):
        assert secret not in html and secret not in values
    delete = page.locator("#secrets-table tr[data-secret='api_key'] button.delete-secret")
    delete.click()
    delete.click()
    expect(page.locator("#toast")).to_contain_text("api_key deleted")
    expect(page.locator("#secrets-table tr[data-secret='api_key']")).to_contain_text("not set")
    assert "api_key" not in {
        s["name"] for s in world["stack"].client.get("/api/v1/secrets").json()["secrets"]
    }
