"""End to end: `home-assistant` and `home-assistant-service` through a real `nexflow up`,
in the real sandbox, on Docker and on nsjail, against the Home Assistant REST API fake
(tests/skill_ha_fake.py), which requires the token on every request. Both skills receive
the granted token (so both wait for approval by default); a service call changes the
light, a read sees the change; without a grant the call is denied before it runs; the
token never leaks.
"""

from __future__ import annotations

import httpx
import pytest

from tests.skill_calls import approved
from tests.skill_secret_world import as_admin, never_leaked
from tests.skill_world import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-network-e2e")]


def test_states_then_a_service_call_then_the_change(
    secret_world: tuple[World, httpx.Client],
) -> None:
    """States filtered by domain and one entity; light.toggle flips the kitchen light and
    answers the changed state; a read afterwards sees it; an unknown service is rejected;
    the operator (no grant) is denied secret_not_granted; the token never leaks."""
    w, uma = secret_world
    url = {"url": w.web.url}
    lights = as_admin(w, "home-assistant", {**url, "domain": "light"})["states"]
    assert {s["entity_id"] for s in lights} == {"light.kitchen", "light.hall"}
    (sensor,) = as_admin(w, "home-assistant", {**url, "entity_id": "sensor.outside"})["states"]
    assert (sensor["state"], sensor["unit"], sensor["name"]) == ("4.5", "°C", "Outside")
    before = w.web.fakes.home["light.kitchen"]["state"]
    call = {**url, "domain": "light", "service": "toggle", "data": {"entity_id": "light.kitchen"}}
    out = as_admin(w, "home-assistant-service", call)
    after = "on" if before == "off" else "off"
    assert out["service"] == "light.toggle"
    assert [(s["entity_id"], s["state"]) for s in out["changed"]] == [("light.kitchen", after)]
    (kitchen,) = as_admin(w, "home-assistant", {**url, "entity_id": "light.kitchen"})["states"]
    assert kitchen["state"] == after == w.web.fakes.home["light.kitchen"]["state"]
    status, bad = approved(
        w.stack,
        w.otto,
        "home-assistant-service",
        {**url, "domain": "light", "service": "explode"},
        "approval_required_skill",
    )
    assert status == "failed" and bad["error"] == "rejected", bad
    denied = uma.post("/api/v1/skills/home-assistant", json={"input": url})
    assert denied.status_code == 403, denied.text
    assert "secret_not_granted" in [r["code"] for r in denied.json()["reasons"]]
    never_leaked(w, "home_assistant_token")
