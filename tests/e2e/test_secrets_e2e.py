"""Brokered secrets against a real `nexflow up` (control plane + executor), on Docker and
on nsjail: a skill granted a secret sees it as NEXFLOW_SECRET_<NAME> and nothing of its
value (plain, base64, URL-encoded, hex) reaches the HTTP answer, the call's story, the
audit database or the stack's log; a skill not granted it sees nothing, and no skill
can read the key file or the database.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import BACKENDS, NEXFLOW, REPO, Stack, start_stack
from tests.secret_leaks import assert_absent, everything_stored

pytestmark = [pytest.mark.e2e]

# Letters and digits only: none of the generic credential patterns would catch it, so
# only the per-call redaction can.
VALUE = "Zq8vW2mXr4Lp9tYcK7dN3hB"
ROTATED = "Pm5sT1uWq9zXc3vB8nLk2Jh"

_SKILL = """\
---
name: {name}
description: {name} (secrets tests)
version: 1.0.0
author: tests
location: ./run.py
runtime: python
permissions: [{permissions}]
secrets: [{secrets}]
optional_secrets: [{optional}]
---

## Input schema

```json
{{"type": "object", "properties": {{"paths": {{"type": "array", "items": {{"type": "string"}}}}}},
 "additionalProperties": false}}
```
"""

# Prints its secret in every form the redaction knows, and reports what it can see.
_LEAKY = r"""
import base64, json, os, sys, urllib.parse
raw = json.load(sys.stdin)
seen = sorted(k for k in os.environ if k.startswith("NEXFLOW_SECRET_"))
value = os.environ.get("NEXFLOW_SECRET_LEAK_TOKEN", "")
data = value.encode()
readable = {}
for path in raw.get("paths", []):
    try:
        with open(path, "rb") as f:
            f.read(1)
        readable[path] = True
    except OSError as exc:
        readable[path] = exc.__class__.__name__
forms = [value, base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode(),
         urllib.parse.quote(value), data.hex(), data.hex().upper(),
         base64.b64encode(b"user:" + data).decode()]
for form in forms:
    print("stderr form:", form, file=sys.stderr)
print(json.dumps({"seen": seen, "readable": readable, "forms": forms,
                  "embedded": "prefix-" + value + "-suffix", "length": len(value)}))
"""


def _write_skill(root: Path, name: str, secrets: list[str], optional: list[str]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    permissions = "secrets" if secrets else ""
    text = _SKILL.format(
        name=name, permissions=permissions, secrets=", ".join(secrets), optional=", ".join(optional)
    )
    (folder / "SKILL.md").write_text(text)
    (folder / "run.py").write_text(_LEAKY)


def _policy(tmp: Path) -> Path:
    target = tmp / "policies"
    shutil.copytree(REPO / "policies", target)
    data = json.loads((target / "data.json").read_text())
    cfg = data["nexflow"]["config"]
    cfg["approvals"]["required_for"] = ["shell"]
    cfg["secrets"]["grants"] = [
        {"secret": "leak_token", "skills": ["leaky"], "principals": [], "roles": ["admin"]},
        {
            "secret": "absent_token",
            "skills": ["needs-absent", "maybe-absent"],
            "principals": ["admin"],
        },
    ]
    (target / "data.json").write_text(json.dumps(data))
    return target


SKILLS = {
    "leaky": ["leak_token"],
    "nosy": [],
    "greedy": ["other_token"],
    "needs-absent": ["absent_token"],
}
OPTIONAL = {"maybe-absent": ["absent_token"]}
"""Skills that list a secret in `optional_secrets:` (granted, never stored)."""


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack on one backend with the test skills, the test grants and `leak_token` set."""
    tmp = tmp_path_factory.mktemp("secrets")
    skills = tmp / "skills"
    for name, secrets in SKILLS.items():
        _write_skill(skills, name, secrets, [])
    for name, optional in OPTIONAL.items():
        _write_skill(skills, name, [], optional)
    trust = [arg for name in [*SKILLS, *OPTIONAL] for arg in ("--trust-skill", name)]
    s = start_stack(
        tmp,
        "--sandbox",
        str(request.param),
        "--skills",
        str(skills),
        *trust,
        env={"NEXFLOW_POLICY_DIR": str(_policy(tmp))},
    )
    created = s.client.post("/api/v1/secrets", json={"name": "leak_token", "value": VALUE})
    assert created.status_code == 201, created.text
    yield s
    s.stop()


def test_granted_secret_arrives_and_never_leaves(stack: Stack) -> None:
    """The granted skill sees NEXFLOW_SECRET_LEAK_TOKEN with the value; every printed form
    of it is redacted from the answer, the story, the database and the log."""
    paths = [str(stack.home / "keys" / "secrets.key"), str(stack.home / "nexflow.db")]
    resp = stack.call("leaky", {"paths": paths})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    out = body["output"]
    assert out["seen"] == ["NEXFLOW_SECRET_LEAK_TOKEN"]
    assert out["length"] == len(VALUE)  # it did receive the value itself
    assert out["forms"][0] == "[REDACTED:leak_token]"
    assert out["embedded"] == "prefix-[REDACTED:leak_token]-suffix"
    assert all(v is not True for v in out["readable"].values()), out["readable"]
    assert "[REDACTED:leak_token]" in body["stderr"]
    assert_absent(resp.text, VALUE, "the HTTP answer")
    story = stack.client.get(f"/api/v1/calls/{body['call_id']}")
    assert story.status_code == 200
    assert_absent(story.text, VALUE, "the call's story")
    audit = stack.client.get("/api/v1/audit", params={"call_id": body["call_id"]})
    reads = [e for e in audit.json()["events"] if e["action"] == "secret.read"]
    assert [(e["payload"]["name"], e["payload"]["version"]) for e in reads] == [("leak_token", 1)]
    assert_absent(everything_stored(stack), VALUE, "the database or the log")


def test_skill_without_grant_sees_no_secret(stack: Stack) -> None:
    """A skill that declares no secret runs with no NEXFLOW_SECRET_* variable at all, and
    cannot read the key file or the database."""
    paths = [str(stack.home / "keys" / "secrets.key"), str(stack.home / "nexflow.db")]
    resp = stack.call("nosy", {"paths": paths})
    assert resp.status_code == 200, resp.text
    assert resp.json()["output"]["seen"] == []
    assert all(v is not True for v in resp.json()["output"]["readable"].values())


def test_declared_but_not_granted_secret_denies_the_call(stack: Stack) -> None:
    """A skill declaring a secret the policy does not grant it is refused (403,
    secret_not_granted) and nothing runs."""
    resp = stack.call("greedy", {})
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "policy_denied"
    assert [r["code"] for r in resp.json()["reasons"]] == ["secret_not_granted"]
    events = stack.client.get("/api/v1/audit", params={"call_id": resp.json()["call_id"]})
    assert "call.dispatched" not in [e["action"] for e in events.json()["events"]]


def test_granted_but_unset_secret_fails_before_running(stack: Stack) -> None:
    """A granted secret the store does not hold: 409 secret_missing, call.failed, no run."""
    resp = stack.call("needs-absent", {})
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"] == "secret_missing"
    events = stack.client.get("/api/v1/audit", params={"call_id": resp.json()["call_id"]})
    actions = [e["action"] for e in events.json()["events"]]
    assert "call.failed" in actions and "call.dispatched" not in actions


def test_key_file_is_private_and_database_holds_no_value(stack: Stack) -> None:
    """The key file is 0600 in the home; the database holds the value only sealed."""
    key = stack.home / "keys" / "secrets.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    con = sqlite3.connect(stack.home / "nexflow.db")
    try:
        (sealed,) = con.execute("SELECT sealed FROM secrets WHERE name='leak_token'").fetchone()
    finally:
        con.close()
    assert VALUE.encode() not in sealed and key.read_text().strip() not in everything_stored(stack)


def test_cli_secret_commands(stack: Stack) -> None:
    """`nexflow secret set|list|rotate|rm` read values from stdin; the list and every
    output show names and versions, never a value; the next call gets the new value."""
    env = {**os.environ, "NEXFLOW_URL": stack.url, "NEXFLOW_HOME": str(stack.home)}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(NEXFLOW), "secret", *args], input=stdin, capture_output=True, text=True,
            env=env, timeout=60,
        )  # fmt: skip

    made = cli("set", "cli_token", stdin="first-value-123\n")
    assert made.returncode == 0 and "version 1" in made.stdout, made.stderr
    again = cli("set", "cli_token", stdin="x")
    assert again.returncode == 1 and "secret_exists" in again.stderr
    bad = cli("set", "Bad-Name", stdin="x")
    assert bad.returncode == 2 and "not a secret name" in bad.stderr
    listed = cli("list", "--json")
    names = {s["name"]: s["version"] for s in json.loads(listed.stdout)}
    assert names["cli_token"] == 1 and "first-value-123" not in listed.stdout
    rotated = cli("rotate", "leak_token", stdin=ROTATED)
    assert rotated.returncode == 0 and "version 2" in rotated.stdout, rotated.stderr
    resp = stack.call("leaky", {})
    assert_absent(resp.text, ROTATED, "the HTTP answer after rotation")
    assert resp.json()["output"]["forms"][0] == "[REDACTED:leak_token]"
    audit = stack.client.get("/api/v1/audit", params={"call_id": resp.json()["call_id"]})
    reads = [e["payload"] for e in audit.json()["events"] if e["action"] == "secret.read"]
    assert reads == [{"name": "leak_token", "version": 2}]  # the very next call: no cache
    assert cli("rm", "cli_token").returncode == 0
    assert cli("rm", "cli_token").returncode == 1
    assert_absent(everything_stored(stack), ROTATED, "the database or the log")
    assert_absent(everything_stored(stack), "first-value-123", "the database or the log")
    assert cli("rm", "leak_token").returncode == 0
    gone = stack.call("leaky", {})  # the next call after rm fails before running, clearly
    assert gone.status_code == 409 and gone.json()["error"] == "secret_missing", gone.text
    assert "leak_token" in gone.json()["message"] and "nexflow secret set" in gone.json()["message"]
    restored = cli("set", "leak_token", stdin=VALUE)
    assert restored.returncode == 0


def test_secrets_routes_need_their_scope(stack: Stack) -> None:
    """A token without `secrets:admin` (a user's default token) cannot list or set secrets."""
    c = stack.client
    assert c.post("/api/v1/users", json={"name": "sam", "roles": ["admin"]}).status_code == 201
    made = c.post("/api/v1/users/sam/tokens", json={"name": "t"})
    token = made.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert "secrets:admin" not in made.json()["scopes"]
    listed = c.get("/api/v1/secrets", headers=headers)
    assert listed.status_code == 403 and listed.json()["error"] == "insufficient_scope"
    put = c.put("/api/v1/secrets/leak_token", json={"value": "x" * 10}, headers=headers)
    assert put.status_code == 403


def test_granted_optional_secret_not_stored_runs_without_it(stack: Stack) -> None:
    """A granted optional secret that the store does not hold is simply not delivered:
    the call runs (no secret_missing), sees no NEXFLOW_SECRET_* and reads no secret."""
    resp = stack.call("maybe-absent", {})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "succeeded" and resp.json()["output"]["seen"] == []
    events = stack.client.get("/api/v1/audit", params={"call_id": resp.json()["call_id"]})
    assert "secret.read" not in [e["action"] for e in events.json()["events"]]
