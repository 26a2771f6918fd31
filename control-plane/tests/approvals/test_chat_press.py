"""A button press relayed from a chat approves only when the control plane says so: the
right nonce, once, for this approval and chat, pressed by a linked approver."""

from __future__ import annotations

import json

from .chat_helpers import CHAT, as_chat, chat_users, nonce_for, pending_for, press
from .conftest import Api


async def test_correct_press_approves_once_and_audits_the_human_and_the_chat(api: Api) -> None:
    """bob (operator) presses approve on alice's call: granted, run, audited as bob from
    the chat through the gateway's token; a second press of the same nonce is nonce_used."""
    await chat_users(api)
    pending = await pending_for(api, "telegram:100")
    nonce = await nonce_for(api, pending["approval_id"], "telegram:100")
    first = await press(api, pending["approval_id"], "telegram:200", nonce)
    assert first.status_code == 200, first.text
    assert first.json()["status"] in ("granted", "ran") and first.json()["decided_by"] == "bob"
    again = await press(api, pending["approval_id"], "telegram:200", nonce)
    assert again.status_code == 409 and again.json()["error"] == "nonce_used"
    done = await api.call_state(pending["call_id"], lambda s: s == "succeeded")
    assert done["status"] == "succeeded"
    (granted,) = api.rows(
        "SELECT actor, payload FROM audit_events WHERE call_id=? AND action='approval.granted'",
        pending["call_id"],
    )
    payload = json.loads(granted["payload"])
    assert granted["actor"] == "bob"
    assert payload["channel"] == CHAT and payload["identity"] == "telegram:200"
    assert payload["via"] == api.tokens["gw"].split("_")[1]


async def test_refused_presses_have_stable_codes_and_approve_nothing(api: Api) -> None:
    """Wrong nonce, another approval's nonce, another chat, an unlinked presser, a
    non-approver and self-approval are each refused; the approval stays pending; a
    refused press does not burn the nonce for the real approver."""
    await chat_users(api)
    pending = await pending_for(api, "telegram:100")
    other = await pending_for(api, "telegram:100")
    aid = pending["approval_id"]
    nonce = await nonce_for(api, aid, "telegram:100")
    other_nonce = await nonce_for(api, other["approval_id"], "telegram:100")
    cases = [
        (press(api, aid, "telegram:200", "x" * 32), 403, "nonce_invalid"),
        (press(api, aid, "telegram:200", other_nonce), 403, "nonce_invalid"),
        (press(api, aid, "telegram:200", nonce, channel="telegram:-999"), 403, "nonce_invalid"),
        (press(api, aid, "telegram:999", nonce), 403, "identity_not_linked"),
        (press(api, aid, "telegram:300", nonce), 403, "policy_denied"),  # ursula: role user
        (press(api, aid, "telegram:100", nonce), 403, "policy_denied"),  # alice: her own call
        (press(api, "a_0000000000000000", "telegram:200", nonce), 403, "nonce_invalid"),
    ]
    for attempt, status, code in cases:
        reply = await attempt
        assert reply.status_code == status and reply.json()["error"] == code, reply.text
    shown = await api.request("admin", "GET", f"/api/v1/approvals/{aid}")
    assert shown.json()["status"] == "pending"
    assert api.executor.requests == []
    denied = await press(api, aid, "telegram:200", nonce, decision="deny")
    assert denied.status_code == 200 and denied.json()["status"] == "denied"


async def test_relay_scope_is_needed_and_decides_nothing_itself(api: Api) -> None:
    """A token without approvals:relay cannot press; a run-as request cannot either."""
    await chat_users(api)
    pending = await pending_for(api, "telegram:100")
    nonce = await nonce_for(api, pending["approval_id"], "telegram:100")
    body = {"identity": "telegram:200", "channel": CHAT, "decision": "approve", "nonce": nonce}
    path = f"/api/v1/approvals/{pending['approval_id']}/press"
    for reply in (
        await api.request("bob", "POST", path, json=body),
        await as_chat(api, "POST", path, "telegram:200", json=body),
    ):
        assert reply.status_code == 403 and reply.json()["error"] == "insufficient_scope"
    assert (await press(api, pending["approval_id"], "telegram:200", nonce)).status_code == 200


async def test_a_denied_chat_call_is_owed_to_its_chat_and_a_plain_one_is_not(api: Api) -> None:
    """bob's Deny press on alice's call from the group puts one notice for that group in
    the outbox (the gateway may have restarted since it showed the buttons); a call asked
    over plain HTTP and denied owes no chat anything."""
    await chat_users(api)
    asked = await pending_for(api, "telegram:100")
    nonce = await nonce_for(api, asked["approval_id"], "telegram:100")
    denied = await press(api, asked["approval_id"], "telegram:200", nonce, decision="deny")
    assert denied.status_code == 200, denied.text
    plain = await api.request(
        "admin", "POST", "/api/v1/skills/shell-echo", json={"input": {"data": 8}}
    )
    assert plain.status_code == 202, plain.text
    await api.user("otto", ["operator"], ["approvals:decide"])
    no = await api.request("otto", "POST", f"/api/v1/approvals/{plain.json()['approval_id']}/deny")
    assert no.status_code == 200, no.text
    due = await api.request("gw", "GET", "/api/v1/outbox", params={"channel": "telegram"})
    assert due.status_code == 200, due.text
    [row] = due.json()["deliveries"]
    assert (row["call_id"], row["chat"]) == (asked["call_id"], CHAT.split(":", 1)[1])
    assert row["text"] == f"shell-echo ({asked['call_id']}) denied: not run, bob denied it"
