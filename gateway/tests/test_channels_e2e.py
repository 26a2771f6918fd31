"""Telegram and Discord end to end through the real connectors: `nexflow up` (nsjail) with
the scripted model and bot tokens starts the gateway itself, which talks to local servers
speaking the Bot API and Discord's REST and Gateway protocols. Strangers pair, linked
people's messages run skills as themselves, and only an approver's button press
approves; the buttons then go and the result reaches the chat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.tests import telegram_updates as tg
from gateway.tests.conftest import API_KEY, DISCORD_TOKEN, TELEGRAM_TOKEN
from gateway.tests.conftest import until as _until
from gateway.tests.fakes.background import BackgroundLoop
from gateway.tests.fakes.discord_api import BOT as DISCORD_BOT
from gateway.tests.fakes.discord_api import BOT_ID, CHANNEL_ID, FakeDiscord
from gateway.tests.fakes.discord_api import user as discord_user
from gateway.tests.fakes.telegram_api import FakeTelegram
from gateway.tests.scripted_llm import ScriptedLLM, call, say, tool_results
from tests.harness import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("gateway-e2e")]

GROUP = tg.GROUP["id"]
CAROL, DAVE = discord_user(111, "carol"), discord_user(222, "dave")


@dataclass
class World:
    stack: Stack
    bg: BackgroundLoop
    telegram: FakeTelegram
    discord: FakeDiscord


@pytest.fixture(scope="module")
def world(llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One stack with both bots configured; alice (operator, not yet paired), bob
    (operator, telegram:200), ursula (role user, telegram:300), carol and dave
    (operators, discord:111 and discord:222)."""
    bg = BackgroundLoop()
    telegram = bg.run(FakeTelegram(TELEGRAM_TOKEN).start())
    discord = bg.run(FakeDiscord(DISCORD_TOKEN).start())
    stack = start_stack(
        tmp_path_factory.mktemp("channels"),
        "--sandbox",
        "nsjail",
        env={
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "NEXFLOW_LLM__MODEL": "openai/scripted-model",
            "NEXFLOW_LLM__API_BASE": llm.api_base,
            "NEXFLOW_LLM__API_KEY": API_KEY,
            "NEXFLOW_TELEGRAM__TOKEN": TELEGRAM_TOKEN,
            "NEXFLOW_TELEGRAM__API_BASE": telegram.url,
            "NEXFLOW_TELEGRAM__POLL_TIMEOUT_S": "2",
            "NEXFLOW_DISCORD__TOKEN": DISCORD_TOKEN,
            "NEXFLOW_DISCORD__API_BASE": discord.api_base,
        },
    )
    try:
        for name, roles, identity in (
            ("alice", ["operator"], None),
            ("bob", ["operator"], ("telegram", "200")),
            ("ursula", ["user"], ("telegram", "300")),
            ("carol", ["operator"], ("discord", "111")),
            ("dave", ["operator"], ("discord", "222")),
        ):
            made = stack.client.post("/api/v1/users", json={"name": name, "roles": roles})
            assert made.status_code == 201, made.text
            if identity:
                body = {"provider": identity[0], "subject": identity[1]}
                linked = stack.client.post(f"/api/v1/users/{name}/identities", json=body)
                assert linked.status_code == 201, linked.text
        _until(lambda: "getupdates" in telegram.calls and discord.identify is not None, stack)
        yield World(stack, bg, telegram, discord)
    finally:
        stack.stop()
        bg.run(telegram.stop())
        bg.run(discord.stop())
        bg.close()


def _relay(body: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": "the tool said: " + " | ".join(tool_results(body))}


def _newest(stack: Stack, **filters: str) -> dict[str, Any]:
    page = stack.client.get("/api/v1/audit", params={**filters, "limit": 1}).json()
    return dict(page["events"][0])


class Telegram:
    """Drives the fake Bot API from the test: updates in, sent messages out."""

    def __init__(self, world: World) -> None:
        self.w, self.fake = world, world.telegram
        self.seen = len(self.fake.sent)

    def push(self, update: dict[str, Any]) -> None:
        self.w.bg.run(self.fake.push(update))

    def next(self, chat_id: int) -> dict[str, Any]:
        """The next message the bot sent to `chat_id` (after those already read)."""

        def found() -> dict[str, Any] | None:
            for n, sent in enumerate(self.fake.sent[self.seen :], self.seen):
                if int(sent["chat_id"]) == chat_id:
                    self.seen = n + 1
                    return sent
            return None

        return dict(_until(found, self.w.stack))

    def press(self, sent: dict[str, Any], decision: int, presser: int) -> None:
        rows = sent["reply_markup"]["inline_keyboard"]
        data = [b["callback_data"] for row in rows for b in row][decision]
        message_id = sent["message"]["message_id"]
        self.push(tg.callback(data, presser, chat_id=GROUP, message_id=message_id))


def test_up_gives_the_gateway_a_token_that_acts_for_chat_users_and_decides_nothing(
    world: World,
) -> None:
    """The live token `nexflow up` made for the user `gateway` holds exactly skills:read,
    calls:run_as and approvals:relay (never approvals:decide or an admin scope)."""
    tokens = world.stack.client.get("/api/v1/users/gateway/tokens")
    assert tokens.status_code == 200, tokens.text
    live = [t for t in tokens.json()["tokens"] if t["name"] == "nexflow-up" and not t["revoked_at"]]
    assert [sorted(t["scopes"]) for t in live] == [
        ["approvals:relay", "calls:run_as", "skills:read"]
    ]


def test_telegram_stranger_pairs_then_runs_a_skill_as_their_user(
    world: World, llm: ScriptedLLM
) -> None:
    """An unknown Telegram user gets only a pairing code (no model call); after `nexflow
    pairing confirm` their message makes the model call echo, which runs in nsjail as
    alice from her chat, the reply arrives in the chat, and the turn is alice's stored
    session of that chat (her web chat lists it)."""
    chat = Telegram(world)
    asked = len(llm.requests)
    llm.script(say("must not be asked"))
    chat.push(tg.private("what failed last night?", user_id=100, name="alice"))
    told = chat.next(100)["parsed_text"]
    assert "pairing code" in told and len(llm.requests) == asked
    code = told.split("pairing code is ")[1].split()[0]
    done = world.stack.cli("pairing", "confirm", code, "--user", "alice")
    assert done.returncode == 0, done.stderr
    llm.script(call(("echo", '{"message": "hello from telegram"}')), _relay)
    chat.push(tg.private("echo please", user_id=100, name="alice"))
    reply = chat.next(100)
    assert "hello from telegram" in reply["parsed_text"] and "reply_markup" not in reply
    requested = _newest(world.stack, action="call.requested", skill="echo")
    assert requested["actor"] == "alice"
    assert requested["payload"]["channel"] == "telegram:100"
    assert requested["payload"]["identity"] == "telegram:100"
    token = world.stack.client.post("/api/v1/users/alice/tokens", json={"name": "web"})
    mine = world.stack.client.get(
        "/api/v1/sessions", headers={"Authorization": f"Bearer {token.json()['token']}"}
    )
    assert mine.status_code == 200, mine.text
    [session] = mine.json()["sessions"]
    assert (session["channel"], session["chat_id"], session["turns"]) == ("telegram", "100", 1)


def test_telegram_approval_by_button(world: World, llm: ScriptedLLM) -> None:
    """alice's shell call in the group shows Approve/Deny; ursula's press (not an
    approver) is refused and says so; bob's approves once, the buttons are taken off,
    the result reaches the group, and the audit names alice and the group for the call."""
    linked = world.stack.client.post(  # whether or not the pairing test ran first
        "/api/v1/users/alice/identities", json={"provider": "telegram", "subject": "100"}
    )
    assert linked.status_code in (201, 409), linked.text
    chat = Telegram(world)
    llm.script(call(("shell-run", json.dumps({"command": "echo ran-after-press"}))), say("waits"))
    chat.push(tg.group("@nexbot run the shell", user_id=100))
    shown = chat.next(GROUP)
    buttons = [b["text"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Approve", "Deny"]
    assert "shell access needs approval" in shown["parsed_text"]
    requested = _newest(world.stack, action="call.requested", skill="shell-run")
    assert requested["actor"] == "alice"
    assert requested["payload"]["channel"] == f"telegram:{GROUP}"
    call_id = requested["call_id"]
    chat.press(shown, 0, presser=300)
    assert "may not decide" in chat.next(GROUP)["parsed_text"]
    assert world.stack.client.get(f"/api/v1/calls/{call_id}").json()["status"] == "pending_approval"
    chat.press(shown, 0, presser=200)
    assert "approved by bob" in chat.next(GROUP)["parsed_text"]
    edited = world.telegram.edited
    retired = _until(lambda: [e for e in edited if not e.get("reply_markup")], world.stack)
    assert int(retired[0]["message_id"]) == shown["message"]["message_id"]
    result = chat.next(GROUP)["parsed_text"]
    assert "ran-after-press" in result and "succeeded" in result
    chat.press(shown, 0, presser=200)
    assert "already used" in chat.next(GROUP)["parsed_text"]
    granted = _newest(world.stack, action="approval.granted")
    assert granted["actor"] == "bob" and granted["payload"]["identity"] == "telegram:200"
    assert world.stack.client.get(f"/api/v1/calls/{call_id}").json()["status"] == "succeeded"


class Discord:
    """Drives the fake Discord from the test: gateway events in, created messages out."""

    def __init__(self, world: World) -> None:
        self.w, self.fake = world, world.discord
        self.seen = len(self.fake.messages)

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.w.bg.run(self.fake.dispatch(event, data))

    def next(self, channel: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for n, sent in enumerate(self.fake.messages[self.seen :], self.seen):
                if sent["channel_id"] == channel:
                    self.seen = n + 1
                    return sent
            return None

        return dict(_until(found, self.w.stack))


def test_discord_dm_reply_and_button_approval(world: World, llm: ScriptedLLM) -> None:
    """carol's DM runs echo as carol and is answered in the DM; her shell call asked in
    the server channel shows buttons, dave's press approves it, its buttons are taken
    off and the result reaches the channel."""
    chat = Discord(world)
    llm.script(call(("echo", '{"message": "hello from discord"}')), _relay)
    dm = world.discord.message("echo please", CAROL)
    chat.dispatch("MESSAGE_CREATE", dm)
    assert "hello from discord" in chat.next(dm["channel_id"])["body"]["content"]
    requested = _newest(world.stack, action="call.requested", skill="echo")
    assert requested["actor"] == "carol"
    assert requested["payload"]["channel"] == f"discord:{dm['channel_id']}"
    llm.script(call(("shell-run", json.dumps({"command": "echo discord-approved"}))), say("ok"))
    asked = world.discord.message(
        f"<@{BOT_ID}> run the shell", CAROL, guild=True, mentions=[DISCORD_BOT]
    )
    chat.dispatch("MESSAGE_CREATE", asked)
    shown = chat.next(str(CHANNEL_ID))
    buttons = [c for row in shown["body"]["components"] for c in row["components"]]
    assert [b["label"] for b in buttons] == ["Approve", "Deny"]
    press = world.discord.press(buttons[0]["custom_id"], DAVE, shown["message"])
    chat.dispatch("INTERACTION_CREATE", press)
    assert "approved by dave" in chat.next(str(CHANNEL_ID))["body"]["content"]
    result = chat.next(str(CHANNEL_ID))["body"]["content"]
    assert "discord-approved" in result and "succeeded" in result
    assert any(e["message"] == shown["message"]["id"] for e in world.discord.edits)
