"""End to end: `nexflow skill install|update|remove|consent` and `nexflow registry
trust|revoke` on a real `nexflow up` (nsjail) against a real `nexflow-registry serve`.

The control plane's policy trusts publisher `acme` and needs no approval for a new version,
so a call runs at once exactly when the skill's publisher is *verified* (installed through
the signed, logged path and unchanged since); anything else waits for approval.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nexflow_registry import signing

from registry.tests.server import Server, new_publisher, publish, skill_copy, start
from tests.harness import REPO, Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("marketplace-e2e")]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("market")


def acme_policies(tmp: Path, self_approval: bool = False) -> Path:
    """A copy of the shipped policy that trusts publisher `acme`, asks no approval for a new
    version and (optionally) lets an approver approve their own calls."""
    policies = tmp / "policies"
    shutil.copytree(REPO / "policies", policies)
    data = json.loads((policies / "data.json").read_text())
    config = data["nexflow"]["config"] if "nexflow" in data else data
    config["publishers"]["trusted"].append("acme")
    config["approvals"]["new_skill_version"] = False
    config["approvals"]["approvers"]["self_approval"] = self_approval
    (policies / "data.json").write_text(json.dumps(data))
    return policies


@pytest.fixture(scope="module")
def stack(tmp: Path) -> Iterator[Stack]:
    policies = acme_policies(tmp)
    s = start_stack(
        tmp / "cp",
        "--sandbox",
        "nsjail",
        "--allow-host",
        "api.example.com",
        env={"NEXFLOW_POLICY_DIR": str(policies)},
    )
    yield s
    s.stop()


def _publish(
    reg: tuple[Server, str, Path], tmp: Path, name: str, version: str, extra: str = ""
) -> None:
    server, token, key = reg
    folder = skill_copy(tmp, version, name=name)
    if extra:
        text = (folder / "SKILL.md").read_text()
        (folder / "SKILL.md").write_text(text.replace("permissions: []\n", extra, 1))
    reply = publish(server, token, folder, key)
    assert reply.status_code == 201, reply.text


def _install(stack: Stack, spec: str, url: str, *more: str) -> Any:
    return stack.cli("skill", "install", spec, "--registry", url, *more)


def _lock(stack: Stack) -> dict[str, Any]:
    path = stack.home / "skills.lock"
    return json.loads(path.read_text())["skills"] if path.exists() else {}


def _audit(stack: Stack, action: str) -> list[dict[str, Any]]:
    reply = stack.client.get("/api/v1/audit", params={"action": action})
    assert reply.status_code == 200, reply.text
    events: list[dict[str, Any]] = reply.json()["events"]
    return events


def test_install_runs_at_once_verified_and_locked(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """`nexflow skill install` verifies, pins on first use and says so, writes the lockfile
    and the audit event; the very next call runs (no restart) with a verified publisher."""
    server = registry[0]
    _publish(registry, tmp, "hello-one", "1.0.0")
    done = _install(stack, "hello-one", server.url)
    assert done.returncode == 0, done.stderr
    assert "pinned on first use: log key" in done.stderr and "acme" in done.stderr
    reply = stack.call("hello-one", {"message": "hi"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "succeeded" and reply.json()["output"] == {"message": "hi"}
    entry = _lock(stack)["hello-one"]
    assert entry["version"] == "1.0.0" and entry["publisher"] == "acme"
    assert entry["registry"] == server.url and entry["checkpoint_size"] >= 3
    pub = (registry[2].with_suffix(".pub")).read_text().strip()
    assert entry["key_id"] == signing.key_id(pub) and entry["installed_at"]
    assert (stack.home / entry["path"] / "SKILL.md").is_file()
    events = _audit(stack, "marketplace.installed")
    assert [e["skill"] for e in events] == ["hello-one"]


def test_publisher_verified_only_for_unchanged_registry_files(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """The same files hand-copied into the home (publisher a claim) wait for approval as an
    unknown publisher; so does the installed skill once its files no longer match the lock."""
    server = registry[0]
    _publish(registry, tmp, "hello-two", "1.0.0")
    assert _install(stack, "hello-two", server.url).returncode == 0
    installed = stack.home / _lock(stack)["hello-two"]["path"]
    copy = stack.home / "skills" / "hello-copy"
    shutil.copytree(installed, copy)
    text = (copy / "SKILL.md").read_text().replace("name: hello-two", "name: hello-copy")
    (copy / "SKILL.md").write_text(text.replace("author: nexflow", "author: acme"))
    _publish(registry, tmp, "hello-three", "1.0.0")
    assert _install(stack, "hello-three", server.url).returncode == 0  # reloads the catalog
    assert stack.call("hello-two", {}).status_code == 200
    waiting = stack.call("hello-copy", {})
    assert waiting.status_code == 202, waiting.text
    assert "approval_required_unknown_publisher" in {r["code"] for r in waiting.json()["reasons"]}
    (installed / "run.py").write_text((installed / "run.py").read_text() + "\n# changed\n")
    assert stack.cli("skill", "remove", "hello-three").returncode == 0  # reloads again
    changed = stack.call("hello-two", {})
    assert changed.status_code == 202, changed.text
    assert "approval_required_unknown_publisher" in {r["code"] for r in changed.json()["reasons"]}
    assert "hello-three" not in _lock(stack)
    assert stack.call("hello-three", {}).json()["error"] == "skill_not_found"


def test_an_update_asking_for_a_host_waits_for_consent(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """An update that adds a host is installed but answers 409 `consent_required` until an
    admin approves the diff (shown over HTTP and the CLI); then it runs, audited."""
    server = registry[0]
    _publish(registry, tmp, "hello-net", "1.0.0")
    assert _install(stack, "hello-net", server.url).returncode == 0
    _publish(
        registry,
        tmp,
        "hello-net",
        "1.1.0",
        extra="permissions: [network]\nsandbox:\n  network: [api.example.com]\n",
    )
    updated = stack.cli("skill", "update", "hello-net")
    assert updated.returncode == 0, updated.stderr
    assert "+ host api.example.com" in updated.stdout and "+ permission network" in updated.stdout
    blocked = stack.call("hello-net", {})
    assert blocked.status_code == 409 and blocked.json()["error"] == "consent_required"
    diff = stack.client.get("/api/v1/marketplace/skills/hello-net/consent").json()
    assert diff["pending"] and diff["added"]["hosts"] == ["api.example.com"]
    shown = stack.cli("skill", "consent", "hello-net", "--show")
    assert "+ host api.example.com" in shown.stdout
    assert stack.call("hello-net", {}).status_code == 409
    approved = stack.cli("skill", "consent", "hello-net")
    assert approved.returncode == 0 and "approved" in approved.stdout, approved.stderr
    ran = stack.call("hello-net", {"message": "ok"})
    assert ran.status_code == 200, ran.text
    assert _lock(stack)["hello-net"]["version"] == "1.1.0"
    grants = _audit(stack, "marketplace.consent_granted")
    assert grants[-1]["payload"]["approved"] == ["+ host api.example.com", "+ permission network"]


def test_untrusted_and_revoked_keys_are_refused_and_nothing_is_lost(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """A release signed by a new key of a pinned publisher is refused (`key_untrusted`)
    until `nexflow registry trust`; after `nexflow registry revoke` its releases are refused
    (`key_revoked`); the installed version keeps running meanwhile."""
    server, token, _ = registry
    _publish(registry, tmp, "hello-key", "1.0.0")
    assert _install(stack, "hello-key", server.url).returncode == 0
    new_key = tmp / "acme-2.key"
    new_pub = signing.keygen(new_key)
    added = server.client.post(
        "/api/v1/publishers/acme/keys",
        json={"public_key": new_pub},
        headers=server.auth(server.admin),
    )
    assert added.status_code == 201, added.text
    folder = skill_copy(tmp, "1.1.0", name="hello-key")
    assert publish(server, token, folder, new_key).status_code == 201
    refused = stack.cli("skill", "update", "hello-key")
    assert refused.returncode == 1 and "key_untrusted" in refused.stderr
    assert _lock(stack)["hello-key"]["version"] == "1.0.0"
    assert stack.call("hello-key", {}).status_code == 200
    trusted = stack.cli("registry", "trust", "acme", new_pub, "--registry", server.url)
    assert trusted.returncode == 0, trusted.stderr
    assert stack.cli("skill", "update", "hello-key").returncode == 0
    assert _lock(stack)["hello-key"]["version"] == "1.1.0"
    revoked = stack.cli(
        "registry", "revoke", "acme", signing.key_id(new_pub), "--registry", server.url
    )
    assert revoked.returncode == 0, revoked.stderr
    assert stack.call("hello-key", {}).status_code == 202  # no longer verified
    _publish_with(server, token, tmp, "hello-key2", new_key)
    blocked = _install(stack, "hello-key2", server.url)
    assert blocked.returncode == 1 and "key_revoked" in blocked.stderr
    assert "hello-key2" not in _lock(stack)
    codes = [e["payload"]["code"] for e in _audit(stack, "marketplace.refused")]
    assert "key_untrusted" in codes and "key_revoked" in codes
    assert _audit(stack, "marketplace.key_trusted") and _audit(stack, "marketplace.key_revoked")


def _publish_with(server: Server, token: str, tmp: Path, name: str, key: Path) -> None:
    assert publish(server, token, skill_copy(tmp, "1.0.0", name=name), key).status_code == 201


def test_the_cooldown_refuses_a_fresh_version_unless_pinned(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """`--min-age-hours 1` refuses a version published just now (`version_too_new`) and
    installs nothing; the exact version installs."""
    server = registry[0]
    _publish(registry, tmp, "hello-fresh", "1.0.0")
    young = _install(stack, "hello-fresh", server.url, "--min-age-hours", "1")
    assert young.returncode == 1 and "version_too_new" in young.stderr
    assert "hello-fresh" not in _lock(stack)
    pinned = _install(stack, "hello-fresh@1.0.0", server.url, "--min-age-hours", "1")
    assert pinned.returncode == 0, pinned.stderr


def test_a_rewound_or_forked_registry_is_refused(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """A registry restored from an old copy (rewound) or grown another history from it
    (forked), same URL, same log key, is refused (`log_rewound`, `log_forked`); what was
    installed from it still runs."""
    home = tmp / "forkable"
    first = start(home)
    port = int(first.url.rsplit(":", 1)[1])
    token = new_publisher(first, "acme", tmp / "fork.key")
    _publish_with(first, token, tmp, "hello-old", tmp / "fork.key")
    first.stop()
    shutil.copytree(home, tmp / "forkable-old")
    honest = start(home, port=port)
    try:
        _publish_with(honest, token, tmp, "hello-new", tmp / "fork.key")
        trusted = stack.cli(
            "registry",
            "trust",
            "acme",
            (tmp / "fork.pub").read_text().strip(),
            "--registry",
            honest.url,
        )
        assert trusted.returncode == 0, trusted.stderr
        assert _install(stack, "hello-new", honest.url).returncode == 0
    finally:
        honest.stop()
    time.sleep(0.5)
    evil = start(tmp / "forkable-old", port=port)
    try:
        rewound = _install(stack, "hello-old", evil.url)
        assert rewound.returncode == 1 and "log_rewound" in rewound.stderr
        _publish_with(evil, token, tmp, "hello-evil", tmp / "fork.key")
        _publish_with(evil, token, tmp, "hello-evil2", tmp / "fork.key")
        forked = _install(stack, "hello-old", evil.url)
        assert forked.returncode == 1 and "log_forked" in forked.stderr
    finally:
        evil.stop()
    assert "hello-old" not in _lock(stack)
    assert stack.call("hello-new", {}).status_code == 200


SLOW_RUN = """\
import json, sys, time
json.load(sys.stdin)
time.sleep(4)
print(json.dumps({"release": "VERSION"}))
"""


def test_a_running_call_keeps_its_release_across_an_update(
    stack: Stack, registry: tuple[Server, str, Path], tmp: Path
) -> None:
    """A call started before an update finishes with the files it started with; the next
    call runs the new release, with no restart."""
    server, token, key = registry
    for version in ("1.0.0", "1.1.0"):
        folder = skill_copy(tmp, version, name="hello-slow")
        (folder / "run.py").write_text(SLOW_RUN.replace("VERSION", version))
        text = (folder / "SKILL.md").read_text().replace('"timeoutSec": 10', '"timeoutSec": 30')
        (folder / "SKILL.md").write_text(text)
        assert publish(server, token, folder, key).status_code == 201
    assert _install(stack, "hello-slow@1.0.0", server.url).returncode == 0
    started = stack.client.post("/api/v1/skills/hello-slow", json={"input": {}, "wait": False})
    assert started.status_code == 202, started.text
    call_id = started.json()["call_id"]
    assert stack.cli("skill", "update", "hello-slow").returncode == 0
    assert _lock(stack)["hello-slow"]["version"] == "1.1.0"
    deadline = time.monotonic() + 60
    story = stack.client.get(f"/api/v1/calls/{call_id}").json()
    while story["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        story = stack.client.get(f"/api/v1/calls/{call_id}").json()
    assert story["status"] == "succeeded", story
    assert story["result"]["output"] == {"release": "1.0.0"}
    after = stack.call("hello-slow", {})
    assert after.status_code == 200 and after.json()["output"] == {"release": "1.1.0"}
