"""Pairing: an unknown chat sender gets a code; an admin confirms it and the identity is
linked. Codes are bounded per identity, expire, are used once, and every step is audited."""

from __future__ import annotations

from datetime import timedelta

from .chat_helpers import CHAT, as_chat, chat_users
from .conftest import Api


async def _ask(api: Api, identity: str) -> tuple[int, dict[str, object]]:
    reply = await api.request(
        "gw", "POST", "/api/v1/pairings", json={"identity": identity, "channel": CHAT}
    )
    return reply.status_code, reply.json()


async def test_pair_confirm_links_and_the_code_is_single_use(api: Api) -> None:
    """A code confirmed for carol links telegram:555 (her calls then run as her); the code
    cannot be confirmed again; requested/confirmed/identity.linked are audited."""
    await chat_users(api)
    await api.user("carol", ["operator"])
    status, code = await _ask(api, "telegram:555")
    assert status == 201 and len(str(code["code"])) == 8
    assert (await _ask(api, "telegram:555"))[1]["code"] == code["code"], "one live code"
    listed = (await api.request("admin", "GET", "/api/v1/pairings")).json()["pairings"]
    assert [p["identity"] for p in listed] == ["telegram:555"]
    confirm = f"/api/v1/pairings/{code['code']}/confirm"
    done = await api.request("admin", "POST", confirm, json={"user": "carol"})
    assert done.status_code == 200 and done.json()["status"] == "confirmed", done.text
    again = await api.request("admin", "POST", confirm, json={"user": "bob"})
    assert again.status_code == 409 and again.json()["error"] == "pairing_not_pending"
    skills = await as_chat(api, "GET", "/api/v1/skills", "telegram:555")
    assert skills.status_code == 200
    assert (await _ask(api, "telegram:555"))[1]["error"] == "identity_already_linked"
    actions = [r["action"] for r in api.rows("SELECT action FROM audit_events ORDER BY seq")]
    linked = len(actions) - 1 - actions[::-1].index("accounts.identity_linked")
    assert actions.index("pairing.requested") < linked < actions.index("pairing.confirmed")


async def test_only_admins_confirm_and_gateway_cannot_self_pair(api: Api) -> None:
    """The gateway token cannot list or confirm codes (accounts:admin only); rejecting
    spends the code; an unknown code is 404 pairing_not_found."""
    await chat_users(api)
    _, code = await _ask(api, "telegram:556")
    for method, path, body in (
        ("GET", "/api/v1/pairings", None),
        ("POST", f"/api/v1/pairings/{code['code']}/confirm", {"user": "gw"}),
    ):
        reply = await api.request("gw", method, path, json=body)
        assert reply.status_code == 403 and reply.json()["error"] == "insufficient_scope"
    rejected = await api.request("admin", "POST", f"/api/v1/pairings/{code['code']}/reject")
    assert rejected.json()["status"] == "rejected"
    unknown = await api.request("admin", "POST", "/api/v1/pairings/ZZZZZZZZ/reject")
    assert unknown.status_code == 404 and unknown.json()["error"] == "pairing_not_found"


async def test_codes_are_rate_limited_and_expire(api: Api) -> None:
    """After a code is rejected, new ones come at most 3 an hour per identity (429
    pairing_rate_limited); an expired code cannot be confirmed."""
    await chat_users(api)
    for _ in range(3):
        status, code = await _ask(api, "telegram:557")
        assert status == 201
        await api.request("admin", "POST", f"/api/v1/pairings/{code['code']}/reject")
    status, body = await _ask(api, "telegram:557")
    assert status == 429 and body["error"] == "pairing_rate_limited"
    _, late = await _ask(api, "telegram:558")
    store = api.services.pairings
    real_clock = store._now
    store._now = lambda: real_clock() + timedelta(hours=1)
    try:
        expired = await api.request(
            "admin", "POST", f"/api/v1/pairings/{late['code']}/confirm", json={"user": "alice"}
        )
    finally:
        store._now = real_clock
    assert expired.status_code == 409 and expired.json()["error"] == "pairing_not_pending"
