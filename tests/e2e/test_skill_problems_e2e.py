"""A skills folder with one broken skill among good ones, on a real `nexflow up`
(nsjail backend): the stack starts, the good skills run, the broken folder is listed under
`problems` with its relative file, line and field, over the API and in the web UI's
Skills view (Playwright driving Debian's chromium), where a hostile description stays text.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_web_ui_e2e import PASSWORD, _chromium, _shot, _user, playwright_api
from tests.harness import REPO, Stack, start_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.nsjail,
    pytest.mark.browser,
    pytest.mark.xdist_group("web-ui-e2e"),
]

ECHO = REPO / "skills" / "echo"
XSS = "<img src=x onerror=window.__xss=1><script>window.__xss=2</script> echoes"
BROKEN_SCHEMA = '"message": {"type": "string", "pattern": "(?<=a)b"}'


def _skill(root: Path, name: str, **replace: str) -> None:
    """A copy of the built-in echo skill under another name, with some text replaced."""
    target = root / name
    shutil.copytree(ECHO, target)
    text = (target / "SKILL.md").read_text().replace("name: echo", f"name: {name}")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    (target / "SKILL.md").write_text(text)
    for path in (root, target):
        path.chmod(0o755)
    for path in target.iterdir():
        path.chmod(0o644)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("skill-problems")
    skills = tmp / "skills"
    skills.mkdir()
    _skill(skills, "mirror")
    description = "Return the input object unchanged. Useful to test that skills run end to end."
    _skill(skills, "xss-note", **{description: f'"{XSS}"'})
    echo_message = '"message": {"type": "string", "description": "Any text to echo back."}'
    _skill(skills, "broken", **{echo_message: BROKEN_SCHEMA})
    stack = start_stack(
        tmp, "--sandbox", "nsjail", "--skills", str(skills), "--trust-skill", "mirror"
    )
    yield stack
    stack.stop()


def test_a_broken_folder_leaves_the_good_skills_serving(stack: Stack) -> None:
    """The stack starts; a good skill from the same folder really runs; the broken one is
    not installed and is listed under `problems` with a relative path, line and field."""
    reply = stack.call("mirror", {"message": "still here"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["output"] == {"message": "still here"}
    listing = stack.client.get("/api/v1/skills").json()
    names = {s["name"] for s in listing["skills"]}
    assert {"mirror", "xss-note"} <= names and "broken" not in names
    (problem,) = [p for p in listing["problems"] if p["file"].startswith("broken")]
    assert problem["file"] == "broken/SKILL.md"  # relative to its skills folder
    assert problem["line"] == 36
    assert problem["field"] == "input_schema.properties.message.pattern"
    assert (problem["code"], problem["severity"]) == ("schema_pattern", "error")
    assert stack.call("broken", {}).json()["error"] == "skill_not_found"


def test_skills_view_shows_installed_and_failed_skills_as_text(stack: Stack) -> None:
    """/ui/skills lists the installed skills and the broken folder with its file, line,
    field and code; the skill's `<script>` description is shown as text and never runs."""
    expect = playwright_api.expect
    _user(stack, "erin", ["operator"])
    set_password = stack.client.put("/api/v1/users/erin/password", json={"password": PASSWORD})
    assert set_password.status_code == 204
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page: Any = browser.new_context(base_url=stack.url).new_page()
            page.goto("/ui/login")
            page.fill("#login-name", "erin")
            page.fill("#login-password", PASSWORD)
            page.click("#login-form button[type=submit]")
            expect(page.locator("#who")).to_contain_text("erin")
            page.click("#nav-skills")
            page.wait_for_url("**/ui/skills")
            row = page.locator('#skill-rows tr[data-skill="xss-note"]')
            expect(row).to_contain_text(XSS)  # the markup, as characters on the page
            expect(page.locator('#skill-rows tr[data-skill="mirror"]')).to_be_visible()
            problem = page.locator('#skill-problems tr.problem[data-file="broken/SKILL.md"]')
            expect(problem).to_have_count(1)
            cells = problem.locator("td").all_inner_texts()
            assert cells[:4] == [
                "broken/SKILL.md",
                "36",
                "input_schema.properties.message.pattern",
                "schema_pattern",
            ]
            assert "RE2 cannot run this pattern" in cells[4]
            assert page.evaluate("window.__xss") is None
            csp = stack.client.get("/ui/skills").headers["content-security-policy"]
            assert "script-src 'self';" in csp and "unsafe" not in csp
            assert page.locator("#skill-rows img, #skill-rows script").count() == 0
            _shot(page, "skills-view")
        finally:
            browser.close()
