"""The read routes behind the web UI's calls, overview, skills and secrets pages, over
HTTP: typed answers, bounded parameters refused with a stable 422, no secret value."""

from __future__ import annotations

import pytest
from nexflow_control.audit import AuditEvent

from .conftest import Api


async def _calls(api: Api) -> None:
    svc = api.services
    for call_id, status, kill in (("c_ok", "succeeded", "none"), ("c_kill", "killed", "timeout")):
        await svc.audit.append_many(
            [
                AuditEvent("call.requested", call_id, "ann", "echo", payload={"channel": "web"}),
                AuditEvent("call.decided", call_id, "ann", "echo", "allow"),
                AuditEvent(
                    "call.finished",
                    call_id,
                    "ann",
                    "echo",
                    payload={"status": status, "kill_reason": kill},
                ),
            ]
        )
    await svc.audit.append(AuditEvent("call.refused", "c_no", "bob", "echo", "deny", ["quota"]))


async def test_calls_list_and_hourly_stats_over_http(api: Api) -> None:
    """`GET /api/v1/calls` gives one typed row per call and filters by outcome;
    `GET /api/v1/stats/calls` lists every hour asked for with this hour's counts."""
    await _calls(api)
    listed = await api.admin("GET", "/api/v1/calls")
    assert listed.status_code == 200, listed.text
    rows = listed.json()["calls"]
    assert [r["call_id"] for r in rows] == ["c_no", "c_kill", "c_ok"]
    assert set(rows[0]) == {
        "call_id", "started_at", "skill", "actor", "channel", "outcome", "decision",
        "reason_codes", "ended_at", "duration_ms", "kill_reason",
    }  # fmt: skip
    killed = await api.admin("GET", "/api/v1/calls", params={"outcome": "killed", "skill": "echo"})
    assert [(r["call_id"], r["kill_reason"]) for r in killed.json()["calls"]] == [
        ("c_kill", "timeout")
    ]
    stats = await api.admin("GET", "/api/v1/stats/calls", params={"hours": 2})
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert len(body["hours"]) == 2 and body["hours"][0]["counts"] == {}
    assert body["hours"][1]["counts"] == {"succeeded": 1, "killed": 1, "refused": 1}
    assert body["denials"] == [{"code": "quota", "count": 1}]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/calls", {"outcome": "exploded"}, "outcome"),
        ("/api/v1/calls", {"limit": 201}, "limit"),
        ("/api/v1/calls", {"before": 0}, "before"),
        ("/api/v1/calls", {"since": "yesterday"}, "since"),
        ("/api/v1/calls", {"skill": "x" * 300}, "skill"),
        ("/api/v1/stats/calls", {"hours": 0}, "hours"),
        ("/api/v1/stats/calls", {"hours": 169}, "hours"),
    ],
)
async def test_out_of_bounds_parameters_are_a_stable_422(
    api: Api, path: str, params: dict[str, object], field: str
) -> None:
    """Each unbounded or malformed parameter is 422 `invalid_request` naming it."""
    resp = await api.admin("GET", path, params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid_request"
    assert field in resp.text


async def test_skill_states_and_secret_usage(api: Api) -> None:
    """Skill state says echo is enabled with its last call; the secrets usage lists a
    stored secret's version and its last read, and no value anywhere."""
    await _calls(api)
    states = await api.admin("GET", "/api/v1/stats/skills")
    assert states.status_code == 200, states.text
    echo = {s["name"]: s for s in states.json()["skills"]}["echo"]
    assert echo["enabled"] is True and echo["last_call"]["call_id"] == "c_no"
    value = "Hj4Kd8Ws2Qz6Xv1Nb9"
    made = await api.admin("POST", "/api/v1/secrets", json={"name": "tok", "value": value})
    assert made.status_code == 201, made.text
    await api.services.audit.append(
        AuditEvent("secret.read", "c_ok", "ann", "echo", payload={"name": "tok", "version": 1})
    )
    usage = await api.admin("GET", "/api/v1/secrets/usage")
    assert usage.status_code == 200, usage.text
    assert value not in usage.text
    (tok,) = usage.json()["secrets"]
    assert (tok["name"], tok["stored"], tok["version"], tok["grants"]) == ("tok", True, 1, [])
    assert (tok["last_read"]["actor"], tok["last_read"]["call_id"]) == ("ann", "c_ok")
