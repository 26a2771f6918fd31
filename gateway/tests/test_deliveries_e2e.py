"""Results owed to a chat, through the control plane's outbox: `nexflow up` (nsjail) and a
real `nexflow-gateway` process of the test's own (so it can be stopped and started again)
talking to a local Telegram Bot API and a local Discord. A schedule delivers to its
owner's own chat, never to another's; a result owed to a Discord user reaches their DM
(opened once); a call approved, denied or expired while the gateway was down is told to
the chat after it is back; only the gateway's token reads the outbox, and an ack is idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.tests.conftest import DISCORD_TOKEN, TELEGRAM_TOKEN, stack_database
from gateway.tests.conftest import until as _until
from gateway.tests.fakes.background import BackgroundLoop
from gateway.tests.fakes.discord_api import FakeDiscord
from gateway.tests.fakes.telegram_api import FakeTelegram
from tests.harness import Stack, free_port, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("gateway-e2e")]

GATEWAY = Path(sys.executable).with_name("nexflow-gateway")
BOB, EVE = 200, 300
TTL_S = 10  # approvals expire fast here (the expiry test waits for one)
BOB_DISCORD = 444  # bob's Discord user id; the fake's DM channel with him is 1444


@dataclass
class World:
    stack: Stack
    bg: BackgroundLoop
    telegram: FakeTelegram
    discord: FakeDiscord
    gateway_token: str
    bob_token: str
    gateway: subprocess.Popen[bytes] | None = None

    def start_gateway(self, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFLOW_LLM")}
        env |= {
            "NEXFLOW_GATEWAY__TOKEN": self.gateway_token,
            "NEXFLOW_GATEWAY__CONTROL_PLANE_URL": self.stack.url,
            "NEXFLOW_GATEWAY__OUTBOX_POLL_S": "0.3",
            "NEXFLOW_DATABASE_URL": stack_database(self.stack),
            "NEXFLOW_HOME": str(self.stack.home),
            "NEXFLOW_TELEGRAM__TOKEN": TELEGRAM_TOKEN,
            "NEXFLOW_TELEGRAM__API_BASE": self.telegram.url,
            "NEXFLOW_TELEGRAM__POLL_TIMEOUT_S": "1",
            "NEXFLOW_DISCORD__TOKEN": DISCORD_TOKEN,
            "NEXFLOW_DISCORD__API_BASE": self.discord.api_base,
        }
        port = str(free_port())
        with log.open("ab") as out:
            self.gateway = subprocess.Popen(
                [str(GATEWAY), "serve", "--host", "127.0.0.1", "--port", port],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop_gateway(self) -> None:
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.terminate()
            self.gateway.wait(timeout=30)
        self.gateway = None

    def sent_to(self, chat: int) -> list[str]:
        return [str(s["parsed_text"]) for s in self.telegram.sent if int(s["chat_id"]) == chat]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """bob (operator, telegram:200), eve (operator, telegram:300), a gateway token with
    what `nexflow up` gives its gateway, and a gateway process started by the test."""
    tmp = tmp_path_factory.mktemp("deliveries")
    bg = BackgroundLoop()
    telegram = bg.run(FakeTelegram(TELEGRAM_TOKEN).start())
    discord = bg.run(FakeDiscord(DISCORD_TOKEN).start())
    stack = start_stack(tmp, "--sandbox", "nsjail", env={"NEXFLOW_APPROVALS__TTL_S": str(TTL_S)})
    try:
        c = stack.client
        for name, roles, subject in (
            ("bob", ["operator"], str(BOB)),
            ("eve", ["operator"], str(EVE)),
            ("relay", ["gateway"], None),
        ):
            assert c.post("/api/v1/users", json={"name": name, "roles": roles}).status_code == 201
            if subject:
                body = {"provider": "telegram", "subject": subject}
                assert c.post(f"/api/v1/users/{name}/identities", json=body).status_code == 201
        scopes = ["skills:read", "calls:run_as", "approvals:relay"]
        gw = c.post("/api/v1/users/relay/tokens", json={"name": "gw", "scopes": scopes})
        bob = c.post("/api/v1/users/bob/tokens", json={"name": "cli"})
        assert gw.status_code == 201 and bob.status_code == 201, (gw.text, bob.text)
        body = {"provider": "discord", "subject": str(BOB_DISCORD)}
        assert c.post("/api/v1/users/bob/identities", json=body).status_code == 201
        w = World(stack, bg, telegram, discord, gw.json()["token"], bob.json()["token"])
        w.start_gateway(tmp / "gateway.log")
        _until(lambda: "getupdates" in telegram.calls and discord.identify is not None, stack)
        yield w
        w.stop_gateway()
    finally:
        stack.stop()
        bg.run(telegram.stop())
        bg.run(discord.stop())
        bg.close()


def _as(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def _schedule(world: World, destination: str, message: str) -> httpx.Response:
    at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    body = {"skill": "echo", "input": {"message": message}, "at": at, "destination": destination}
    return world.stack.client.post("/api/v1/schedules", json=body, headers=_as(world.bob_token))


def test_schedule_to_the_owners_chat_delivers_its_result_once(world: World) -> None:
    """bob's one-shot schedule to telegram:200 (his own private chat) runs, and its result
    reaches that chat exactly once; the outbox is then empty."""
    made = _schedule(world, f"telegram:{BOB}", "scheduled-hello")
    assert made.status_code == 201, made.text
    _until(lambda: any("scheduled-hello" in t for t in world.sent_to(BOB)), world.stack)
    time.sleep(2)  # several polling rounds: no second send
    got = [t for t in world.sent_to(BOB) if "scheduled-hello" in t]
    assert len(got) == 1 and "echo (" in got[0] and "succeeded" in got[0], got
    left = world.stack.client.get(
        "/api/v1/outbox", params={"channel": "telegram"}, headers=_as(world.gateway_token)
    )
    assert left.status_code == 200 and left.json()["deliveries"] == [], left.text


def test_schedule_to_a_discord_user_reaches_their_dm(world: World) -> None:
    """bob's schedules to discord:444 (his Discord user id, no channel) reach his DM: the
    gateway opens the DM channel once (`recipient_id` 444) and sends both results there."""
    for message in ("dm-one", "dm-two"):
        made = _schedule(world, f"discord:{BOB_DISCORD}", message)
        assert made.status_code == 201, made.text

    def in_dm() -> list[str]:
        sent = world.discord.messages
        return [str(m["body"]["content"]) for m in sent if m["channel_id"] == "1444"]

    _until(lambda: len([t for t in in_dm() if "dm-" in t]) == 2, world.stack)
    assert all("echo (" in t and "succeeded" in t for t in in_dm())
    assert [str(o["recipient_id"]) for o in world.discord.dm_opens] == [str(BOB_DISCORD)]
    left = world.stack.client.get(
        "/api/v1/outbox", params={"channel": "discord"}, headers=_as(world.gateway_token)
    )
    assert left.status_code == 200 and left.json()["deliveries"] == [], left.text


def test_schedule_to_another_persons_chat_is_refused_at_creation(world: World) -> None:
    """bob cannot send results to eve's chat (telegram:300) or to a group: 422
    `destination_not_linked`, and no schedule is stored."""
    for destination in (f"telegram:{EVE}", "telegram:-1001", "discord:111"):
        refused = _schedule(world, destination, "never")
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "destination_not_linked"
    listed = world.stack.client.get("/api/v1/schedules").json()["schedules"]
    mine = {f"telegram:{BOB}", f"discord:{BOB_DISCORD}"}
    assert all(s["destination"] in mine for s in listed)


def test_call_approved_while_the_gateway_is_down_reaches_the_chat_after_restart(
    world: World, tmp_path: Path
) -> None:
    """A call bob asked for from his chat waits for approval; the gateway stops; an admin
    approves and the call runs; nothing is sent meanwhile; once the gateway is started
    again the result reaches bob's chat."""
    world.stop_gateway()
    asked = httpx.post(
        f"{world.stack.url}/api/v1/skills/shell-run",
        json={"input": {"command": "echo after-restart"}},
        headers=_as(
            world.gateway_token,
            **{"X-Nexflow-On-Behalf-Of": f"telegram:{BOB}", "X-Nexflow-Channel": f"telegram:{BOB}"},
        ),
        timeout=60,
    )
    assert asked.status_code == 202 and asked.json()["status"] == "pending_approval", asked.text
    pending = asked.json()
    approved = world.stack.client.post(f"/api/v1/approvals/{pending['approval_id']}/approve")
    assert approved.status_code == 200, approved.text
    call = f"/api/v1/calls/{pending['call_id']}"
    _until(lambda: world.stack.client.get(call).json()["status"] == "succeeded", world.stack)
    time.sleep(1)
    assert not any("after-restart" in t for t in world.sent_to(BOB))
    world.start_gateway(tmp_path / "gateway.log")
    text = _until(
        lambda: next((t for t in world.sent_to(BOB) if "after-restart" in t), None), world.stack
    )
    assert pending["call_id"] in text and "succeeded" in text


def _ask_shell(world: World, command: str) -> dict[str, str]:
    """bob's shell call from his private chat, as the gateway makes it: it waits."""
    asked = httpx.post(
        f"{world.stack.url}/api/v1/skills/shell-run",
        json={"input": {"command": command}},
        headers=_as(
            world.gateway_token,
            **{"X-Nexflow-On-Behalf-Of": f"telegram:{BOB}", "X-Nexflow-Channel": f"telegram:{BOB}"},
        ),
        timeout=60,
    )
    assert asked.status_code == 202 and asked.json()["status"] == "pending_approval", asked.text
    return dict(asked.json())


def test_denial_and_expiry_while_the_gateway_is_down_reach_the_chat_after_restart(
    world: World, tmp_path: Path
) -> None:
    """Two calls from bob's chat wait; the gateway stops; an admin denies one and the
    other's approval expires; nothing is sent meanwhile; once the gateway is back, the
    chat is told each one will not run (once each), and neither ran."""
    world.stop_gateway()
    denied, expiring = _ask_shell(world, "echo deny-me"), _ask_shell(world, "echo let-expire")
    no = world.stack.client.post(f"/api/v1/approvals/{denied['approval_id']}/deny")
    assert no.status_code == 200, no.text
    approval = f"/api/v1/approvals/{expiring['approval_id']}"
    _until(lambda: world.stack.client.get(approval).json()["status"] == "expired", world.stack)
    time.sleep(1)
    assert not [t for t in world.sent_to(BOB) if "not run" in t]
    world.start_gateway(tmp_path / "gateway.log")

    def told() -> list[str]:
        return [t for t in world.sent_to(BOB) if "not run" in t]

    _until(lambda: len(told()) == 2, world.stack)
    time.sleep(1)  # a few polling rounds: nothing is told twice
    [no_text, late_text] = sorted(told(), key=lambda t: denied["call_id"] not in t)
    assert denied["call_id"] in no_text and "denied" in no_text and "admin denied it" in no_text
    assert expiring["call_id"] in late_text and "expired" in late_text
    for pending in (denied, expiring):
        story = world.stack.client.get(f"/api/v1/calls/{pending['call_id']}").json()
        assert story["status"] in ("denied", "expired")
        assert "call.dispatched" not in [e["action"] for e in story["events"]]


def test_outbox_is_the_gateways_alone_and_an_ack_is_idempotent(world: World) -> None:
    """bob's own token and the gateway acting for bob get 403 on the outbox; the gateway's
    token acks a delivered entry twice with the same answer, and an unknown id is 404."""
    url = f"{world.stack.url}/api/v1/outbox"
    acting = {"X-Nexflow-On-Behalf-Of": f"telegram:{BOB}"}
    for headers in (_as(world.bob_token), _as(world.gateway_token, **acting)):
        denied = httpx.get(url, params={"channel": "telegram"}, headers=headers)
        assert denied.status_code == 403, denied.text
        assert denied.json()["error"] == "insufficient_scope"
    assert httpx.post(f"{url}/1/ack", headers=_as(world.bob_token)).status_code == 403
    gw = _as(world.gateway_token)
    for _ in range(2):
        acked = httpx.post(f"{url}/1/ack", headers=gw)
        assert acked.status_code == 200 and acked.json() == {"id": 1, "acked": True}, acked.text
    missing = httpx.post(f"{url}/999999/ack", headers=gw)
    assert missing.status_code == 404 and missing.json()["error"] == "outbox_entry_not_found"
    bad = httpx.get(url, params={"channel": "telegram", "limit": 100_000}, headers=gw)
    assert bad.status_code == 422, bad.text
