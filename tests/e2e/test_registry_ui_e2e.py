"""The Registry page in a real browser (Playwright, Debian's chromium) against a real
`nexflow up` and a real `nexflow-registry serve`: installed skills with their proof and
scan verdict, an update's permission diff approved with one click, and the log's
checkpoint checked against the last one an install saw."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nexflow_registry import signing

from registry.tests.server import new_publisher, publish, skill_copy, start
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


HOSTILE = '<img src=x onerror="window.__pwned=1">'


def _publish_browsable(reg: tuple[Any, str, Path], tmp: Path, name: str, version: str) -> None:
    """`name` with a hostile description, a tag, and a network host it asks for."""
    server, token, key = reg
    folder = skill_copy(tmp, version, name=name)
    md = folder / "SKILL.md"
    text = md.read_text().replace("permissions: []\n", _ASKS, 1)
    text = text.replace("tags: [debug, test]", "tags: [weather]", 1)
    start_desc = text.index("description: ")
    end_desc = text.index("\n", start_desc)
    md.write_text(text[:start_desc] + f"description: 'Weather {HOSTILE} now'" + text[end_desc:])
    reply = publish(server, token, folder, key)
    assert reply.status_code == 201, reply.text


_ASKS = "permissions: [network]\nsandbox:\n  network: [api.example.com]\n"


def test_the_registry_page_browses_shows_a_package_and_installs_it(
    world: dict[str, Any],
) -> None:
    """Search by name finds the package (its hostile description shown as text, no element
    made of it); its page shows the yanked version with its reason, the host it asks for,
    the scan verdict and the signature's key; Install verifies and installs it (then it is
    in the installed table); a version signed by a key this home does not trust shows as
    untrusted and its install is refused with `key_untrusted` on the page."""
    expect = playwright_api.expect
    stack: Stack = world["stack"]
    reg = world["registry"]
    server, _, key = reg
    tmp: Path = world["tmp"]
    _publish_browsable(reg, tmp, "browse-pick", "0.9.0")
    yanked = server.client.post(
        "/api/v1/packages/browse-pick/0.9.0/yank",
        json={"reason": "wrong units"},
        headers=server.auth(server.admin),
    )
    assert yanked.status_code == 204, yanked.text
    _publish_browsable(reg, tmp, "browse-pick", "1.0.0")
    trust = stack.home / "registry-trust.json"
    pinned = trust.exists() and "acme" in json.loads(trust.read_text())["publishers"].get(
        server.url, {}
    )
    key_id = signing.key_id(key.with_suffix(".pub").read_text().strip())

    context = world["browser"].new_context(base_url=stack.url)
    page = context.new_page()
    try:
        _login(page, "root")
        page.click("#nav-registry")
        page.fill("#browse-q", "browse-pick")
        page.fill("#browse-registry", server.url)
        page.click("#browse-search")
        row = page.locator("#browse-rows tr[data-package='browse-pick']")
        expect(row).to_contain_text("1.0.0")
        expect(row.locator("td.description")).to_have_text(f"Weather {HOSTILE} now")
        expect(row.locator("td.description img")).to_have_count(0)
        assert page.locator("img").count() == 0
        _shot(page, "registry-03-browse")
        row.locator("a.package-link").click()
        expect(page.locator("#pkg-name")).to_have_text("browse-pick")
        expect(page.locator("#pkg-description")).to_have_text(f"Weather {HOSTILE} now")
        assert page.locator("img").count() == 0
        assert page.evaluate("window.__pwned") is None
        expect(page.locator("#pkg-request-list li[data-kind='host']")).to_have_text(
            "host api.example.com"
        )
        expect(page.locator("#pkg-request-list li[data-kind='permission']")).to_have_text(
            "permission network"
        )
        expect(page.locator("#pkg-scan")).to_have_attribute("data-verdict", "clean")
        expect(page.locator("#pkg-key-id")).to_have_text(key_id)
        signature = page.locator("#pkg-signature")
        expect(signature).to_have_attribute(
            "data-key-status", "trusted" if pinned else "not_pinned"
        )
        expect(signature).to_have_attribute("data-valid", "true")
        old = page.locator("#pkg-versions tr[data-version='0.9.0']")
        expect(old).to_have_class("yanked")
        expect(old.locator("td.version-state")).to_have_text("yanked: wrong units")
        expect(page.locator("#pkg-installed")).to_have_text("Not installed here.")
        assert "null" not in page.locator("#app").inner_text()  # no absent value shown
        _shot(page, "registry-04-package")
        page.click("#pkg-install")
        expect(page.locator("#pkg-install-done")).to_contain_text("installed browse-pick 1.0.0")
        assert _lock(stack)["browse-pick"]["version"] == "1.0.0"
        page.click("#pkg-see-installed")
        installed = page.locator("#installed tr[data-skill='browse-pick']")
        expect(installed).to_contain_text("1.0.0")
        expect(installed.locator("td.verified")).to_have_attribute("data-verified", "true")

        second = tmp / "acme-browse-2.key"
        added = server.client.post(
            "/api/v1/publishers/acme/keys",
            json={"public_key": signing.keygen(second)},
            headers=server.auth(server.admin),
        )
        assert added.status_code == 201, added.text
        _publish_browsable((server, reg[1], second), tmp, "browse-other", "1.0.0")
        page.goto(f"/ui/registry/packages/browse-other?registry={server.url}")
        expect(page.locator("#pkg-signature")).to_have_attribute("data-key-status", "untrusted")
        page.click("#pkg-install")
        refusal = page.locator("#pkg-install-error")
        expect(refusal).to_have_attribute("data-code", "key_untrusted")
        expect(refusal).to_contain_text("key_untrusted: ")
        assert "browse-other" not in _lock(stack)
        _shot(page, "registry-05-refused")
    finally:
        context.close()
