"""Refused access leaves a trace: `auth.failed` for a bad or missing token and
`auth.scope_refused` for a token without the route's scope, throttled per client, with
no secret in them; the refusal itself never depends on the audit store."""

from __future__ import annotations

import json

from nexflow_control.errors import Unauthenticated
from nexflow_control.refusals import RefusalRecorder
from nexflow_control.throttle import SharedCounts

from .conftest import Api


def _payload(row: object) -> dict[str, object]:
    raw = row["payload"]  # type: ignore[index]
    return raw if isinstance(raw, dict) else json.loads(raw)


async def test_a_wrong_token_secret_is_audited_by_its_public_id_only(api: Api) -> None:
    await api.user("alice", "user")
    token = (await api.token("alice"))["token"]
    forged = token[:-6] + "AAAAAA"
    reply = await api.as_token(forged, "GET", "/api/v1/skills")
    assert reply.status_code == 401
    (row,) = api.events("auth.failed")
    payload = _payload(row)
    assert row["decision"] == "deny"
    assert json.loads(str(row["reason_codes"])) == ["unauthenticated"]
    assert payload["presented"] == "nxf_" + token.split("_")[1] + "_"
    assert payload["path"] == "/api/v1/skills" and payload["method"] == "GET"
    assert forged.split("_", 2)[2] not in json.dumps(payload)  # never the secret


async def test_missing_token_is_audited(api: Api) -> None:
    reply = await api.client.get("/api/v1/audit")
    assert reply.status_code == 401
    (row,) = api.events("auth.failed")
    assert "presented" not in _payload(row)
    assert _payload(row)["path"] == "/api/v1/audit"


async def test_an_agent_token_trying_to_approve_is_audited(api: Api) -> None:
    await api.user("agent", "operator")
    token = (await api.token("agent"))["token"]  # default scopes: no approvals:decide
    reply = await api.as_token(token, "POST", "/api/v1/approvals/a_0123456789abcdef/approve")
    assert reply.status_code == 403 and reply.json()["error"] == "insufficient_scope"
    (row,) = api.events("auth.scope_refused")
    payload = _payload(row)
    assert row["actor"] == "agent"
    assert payload["scope"] == "approvals:decide"
    assert payload["path"] == "/api/v1/approvals/a_0123456789abcdef/approve"


async def test_refusals_are_throttled_per_client_and_the_count_is_kept(api: Api) -> None:
    now = [0.0]
    counts = SharedCounts(api.services.db, clock=lambda: now[0])
    recorder = RefusalRecorder(api.services.audit, counts, per_minute=3)
    error = Unauthenticated("invalid bearer token")
    for _ in range(10):
        await recorder.record("auth.failed", error, client="10.0.0.9", method="GET", path="/x")
    await recorder.record("auth.failed", error, client="10.0.0.8", method="GET", path="/x")
    now[0] = 61.0
    await recorder.record("auth.failed", error, client="10.0.0.9", method="GET", path="/x")
    rows = api.events("auth.failed")
    by_client = [(_payload(r)["client"], _payload(r).get("suppressed")) for r in rows]
    assert by_client == [
        ("10.0.0.9", None),
        ("10.0.0.9", None),
        ("10.0.0.9", None),
        ("10.0.0.8", None),
        ("10.0.0.9", 7),
    ]


async def test_two_control_planes_share_the_refusal_throttle(api: Api) -> None:
    """Two recorders (two control planes on one database) record no more than the limit
    for a client together; each says how many it left out."""
    error = Unauthenticated("invalid bearer token")
    planes = [
        RefusalRecorder(api.services.audit, SharedCounts(api.services.db), per_minute=4)
        for _ in range(2)
    ]
    for i in range(10):
        await planes[i % 2].record("auth.failed", error, client="10.0.0.7", method="GET", path="/")
    assert len(api.events("auth.failed")) == 4
