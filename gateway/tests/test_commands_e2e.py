"""Chat commands without a model, end to end: `nexflow up` (nsjail) with NO model, the web
chat on and both bot tokens set starts the gateway itself; `/help`, `/skills`,
`/run NAME {json}` and `/status ID` then work in the web chat (HTTP and socket), Telegram
and Discord, running real skills in the sandbox as the chatting person. A `/run` that
needs approval shows its reasons and buttons, and an approver's press runs it. With a
model configured (a gateway started by `nexflow gateway`), a command still never reaches
the model. Bad arguments get a usage line."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from gateway.tests import telegram_updates as tg
from gateway.tests.conftest import API_KEY, DISCORD_TOKEN, TELEGRAM_TOKEN, until
from gateway.tests.fakes.background import BackgroundLoop
from gateway.tests.fakes.discord_api import FakeDiscord
from gateway.tests.fakes.discord_api import user as discord_user
from gateway.tests.fakes.telegram_api import FakeTelegram
from gateway.tests.scripted_llm import ScriptedLLM, say
from gateway.tests.test_channels_e2e import Discord, Telegram
from tests.harness import NEXFLOW, Stack, free_port, start_stack, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.nsjail, pytest.mark.xdist_group("gateway-e2e")]

GROUP = tg.GROUP["id"]
CAROL, DAVE = discord_user(111, "carol"), discord_user(222, "dave")
MAX_ARGUMENT_BYTES = 1024


@dataclass
class World:
    stack: Stack
    bg: BackgroundLoop
    telegram: FakeTelegram
    discord: FakeDiscord
    tokens: dict[str, str]

    def chat(self, user: str, message: str, session_id: str | None = None) -> dict[str, Any]:
        """`POST /api/v1/chat` on the stack's own address, as `user`."""
        body = {"message": message} | ({"session_id": session_id} if session_id else {})
        reply = httpx.post(
            f"{self.stack.url}/api/v1/chat",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[user]}"},
            timeout=120,
        )
        assert reply.status_code == 200, reply.text
        return dict(reply.json())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One stack, no model: alice (operator, telegram:100), bob (operator, telegram:200),
    carol and dave (operators, discord:111 and discord:222), each with a web token."""
    bg = BackgroundLoop()
    telegram = bg.run(FakeTelegram(TELEGRAM_TOKEN).start())
    discord = bg.run(FakeDiscord(DISCORD_TOKEN).start())
    stack = start_stack(
        tmp_path_factory.mktemp("commands"),
        "--sandbox",
        "nsjail",
        env={
            "NEXFLOW_LLM__MODEL": "",
            "NEXFLOW_WEB_CHAT": "true",
            "NEXFLOW_LLM__MAX_TOOL_ARGUMENT_BYTES": str(MAX_ARGUMENT_BYTES),
            "NEXFLOW_TELEGRAM__TOKEN": TELEGRAM_TOKEN,
            "NEXFLOW_TELEGRAM__API_BASE": telegram.url,
            "NEXFLOW_TELEGRAM__POLL_TIMEOUT_S": "2",
            "NEXFLOW_DISCORD__TOKEN": DISCORD_TOKEN,
            "NEXFLOW_DISCORD__API_BASE": discord.api_base,
        },
    )
    try:
        tokens = {}
        for name, identity in (
            ("alice", ("telegram", "100")),
            ("bob", ("telegram", "200")),
            ("carol", ("discord", "111")),
            ("dave", ("discord", "222")),
        ):
            made = stack.client.post("/api/v1/users", json={"name": name, "roles": ["operator"]})
            assert made.status_code == 201, made.text
            body = {"provider": identity[0], "subject": identity[1]}
            linked = stack.client.post(f"/api/v1/users/{name}/identities", json=body)
            assert linked.status_code == 201, linked.text
            token = stack.client.post(f"/api/v1/users/{name}/tokens", json={"name": "web"})
            tokens[name] = str(token.json()["token"])
        # The gateway imports litellm at start: slow on a busy machine.
        bots = lambda: "getupdates" in telegram.calls and discord.identify is not None  # noqa: E731
        until(bots, stack, seconds=240)
        until(lambda: stack.client.get("/api/v1/sessions").status_code == 200, stack)
        yield World(stack, bg, telegram, discord, tokens)
    finally:
        stack.stop()
        bg.run(telegram.stop())
        bg.run(discord.stop())
        bg.close()


def _call_id(text: str) -> str:
    found = re.search(r"\((c_\w+)\)", text)
    assert found, text
    return found[1]


def test_web_chat_commands_run_real_skills_without_a_model(world: World) -> None:
    """In the web chat on the stack's address: `/help` says no model is configured,
    `/skills` lists echo with its description, `/run echo` runs it in nsjail as alice
    (the audit says so), `/status` reads it back, a plain message gets a help pointing
    at /help and at the setting; every turn is stored in the session."""
    helped = world.chat("alice", "/help")
    assert "/run NAME {json}" in helped["reply"] and "No model is configured" in helped["reply"]
    sid = helped["session_id"]
    listed = world.chat("alice", "/skills", sid)["reply"]
    assert "- echo: Return the input object unchanged." in listed
    assert "- shell-run:" in listed
    ran = world.chat("alice", '/run echo {"message": "hi from the web"}', sid)
    assert '"message": "hi from the web"' in ran["reply"] and "succeeded" in ran["reply"]
    [step] = ran["calls"]
    assert (step["skill"], step["status"]) == ("echo", "succeeded")
    assert step["output"] == {"message": "hi from the web"}
    story = world.stack.client.get(f"/api/v1/calls/{step['call_id']}").json()
    assert story["status"] == "succeeded"
    assert story["events"][0]["actor"] == "alice"
    status = world.chat("alice", f"/status {step['call_id']}", sid)["reply"]
    assert status.startswith(f"{step['call_id']}: echo succeeded")
    assert "hi from the web" in status
    plain = world.chat("alice", "what failed last night?", sid)
    assert "/help" in plain["reply"] and "NEXFLOW_LLM__MODEL" in plain["reply"]
    assert plain["calls"] == [] and plain["stop_reason"] == "command"
    history = httpx.get(
        f"{world.stack.url}/api/v1/sessions/{sid}",
        headers={"Authorization": f"Bearer {world.tokens['alice']}"},
    ).json()["history"]
    assert [t["message"] for t in history] == [
        "/help",
        "/skills",
        '/run echo {"message": "hi from the web"}',
        f"/status {step['call_id']}",
        "what failed last night?",
    ]
    assert history[2]["calls"][0]["call_id"] == step["call_id"]


def test_web_status_shows_only_your_own_calls(world: World) -> None:
    """bob's web token may read the audit log, yet `/status` of alice's call tells him he
    has no such call (and shows none of its output)."""
    ran = world.chat("alice", '/run echo {"message": "alice-private"}')
    call_id = ran["calls"][0]["call_id"]
    told = world.chat("bob", f"/status {call_id}")["reply"]
    assert told == f"You have no call {call_id!r}." and "alice-private" not in told


def test_web_socket_command(world: World) -> None:
    """`ws /ws/chat/new` answers `/skills` with a session and a finished turn."""
    url = world.stack.url.replace("http", "ws") + "/ws/chat/new"
    headers = {"Authorization": f"Bearer {world.tokens['carol']}"}
    with connect(url, additional_headers=headers) as ws:
        ws.send(json.dumps({"message": "/skills"}))
        frames = []
        while not frames or frames[-1]["type"] not in ("turn.finished", "error"):
            frames.append(json.loads(ws.recv(timeout=60)))
    assert [f["type"] for f in frames] == ["session", "turn.finished"], frames
    assert "- echo: Return the input object unchanged." in frames[-1]["reply"]


@pytest.mark.parametrize(
    ("message", "told"),
    [
        ("/run", "Usage: /run NAME {json}"),
        ("/run no-such-skill {}", "There is no skill 'no-such-skill' you can run; /skills"),
        ("/run ../echo {}", "is not a skill name"),
        ('/run echo {"message": ', "The input is not usable (arguments are not JSON"),
        ("/run echo [1, 2]", "The input is not usable (arguments must be a JSON object)"),
        (
            '/run echo {"message": "' + "x" * 2000 + '"}',
            f"arguments are 2015 bytes; at most {MAX_ARGUMENT_BYTES}",
        ),
        ("/status", "Usage: /status ID"),
        ("/status call with spaces", "Usage: /status ID"),
        ("/status call_does_not_exist", "You have no call 'call_does_not_exist'."),
    ],
)
def test_bad_command_arguments_get_a_usage_line(world: World, message: str, told: str) -> None:
    """Each bad argument is answered in plain words (no traceback, no call made)."""
    reply = world.chat("dave", message)
    assert told in reply["reply"] and "Traceback" not in reply["reply"]
    assert reply["calls"] == []


def test_run_refused_by_the_control_plane_shows_its_code(world: World) -> None:
    """Input the skill's schema refuses: the control plane's code and message."""
    reply = world.chat("dave", '/run echo {"nope": 1}')
    assert reply["reply"].startswith("echo was refused (invalid_input):"), reply["reply"]
    assert reply["calls"][0]["status"] == "refused"


def test_web_run_of_a_gated_skill_waits_with_its_reasons(world: World) -> None:
    """`/run shell-run` from the web: not run, listed as pending with its reasons."""
    reply = world.chat("carol", '/run shell-run {"command": "echo never-without-approval"}')
    [pending] = reply["pending_approvals"]
    assert pending["skill"] == "shell-run" and pending["reasons"]
    assert (
        "waits for approval" in reply["reply"] and "shell access needs approval" in reply["reply"]
    )
    story = world.stack.client.get(f"/api/v1/calls/{pending['call_id']}").json()
    assert story["status"] == "pending_approval"


def test_telegram_commands_and_an_approved_run(world: World) -> None:
    """alice in a private chat: /help, /skills, /run echo, /status, and a plain message;
    in the group `/run@nexbot shell-run` shows reasons and Approve/Deny, bob's press runs
    it in nsjail and its result reaches the group."""
    chat = Telegram(world)  # type: ignore[arg-type]
    chat.push(tg.private("/help", user_id=100, name="alice"))
    assert "No model is configured" in chat.next(100)["parsed_text"]
    chat.push(tg.private("/skills", user_id=100, name="alice"))
    assert "- echo: Return the input object unchanged." in chat.next(100)["parsed_text"]
    chat.push(tg.private('/run echo {"message": "hi from telegram"}', user_id=100, name="alice"))
    ran = chat.next(100)["parsed_text"]
    assert "hi from telegram" in ran and "succeeded" in ran
    call_id = _call_id(ran)
    requested = world.stack.client.get(f"/api/v1/calls/{call_id}").json()["events"][0]
    assert requested["actor"] == "alice"
    assert requested["payload"]["identity"] == "telegram:100"
    chat.push(tg.private(f"/status {call_id}", user_id=100, name="alice"))
    assert chat.next(100)["parsed_text"].startswith(f"{call_id}: echo succeeded")
    chat.push(tg.private("hello?", user_id=100, name="alice"))
    assert "/help" in chat.next(100)["parsed_text"]
    chat.push(tg.group('/run@nexbot shell-run {"command": "echo ran-by-command"}', user_id=100))
    shown = chat.next(GROUP)
    buttons = [b["text"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Approve", "Deny"]
    assert "shell access needs approval" in shown["parsed_text"]
    chat.press(shown, 0, presser=200)
    assert "approved by bob" in chat.next(GROUP)["parsed_text"]
    result = chat.next(GROUP)["parsed_text"]
    assert "ran-by-command" in result and "succeeded" in result


def test_discord_commands_and_an_approved_run(world: World) -> None:
    """carol's DM: /skills, /run echo, /status; her /run shell-run shows buttons and
    dave's press runs it."""
    chat = Discord(world)  # type: ignore[arg-type]

    def say_dm(text: str) -> str:
        dm = world.discord.message(text, CAROL)
        chat.dispatch("MESSAGE_CREATE", dm)
        return str(chat.next(dm["channel_id"])["body"]["content"])

    listed = say_dm("/skills")  # longer than one Discord message (2000): split
    while "- web-fetch:" not in listed:
        listed += chat.next(str(1000 + int(CAROL["id"])))["body"]["content"]
    assert "- echo: Return the input object unchanged." in listed
    ran = say_dm('/run echo {"message": "hi from discord"}')
    assert "hi from discord" in ran and "succeeded" in ran
    call_id = _call_id(ran)
    assert say_dm(f"/status {call_id}").startswith(f"{call_id}: echo succeeded")
    dm = world.discord.message('/run shell-run {"command": "echo discord-command"}', CAROL)
    chat.dispatch("MESSAGE_CREATE", dm)
    shown = chat.next(dm["channel_id"])
    buttons = [c for row in shown["body"]["components"] for c in row["components"]]
    assert [b["label"] for b in buttons] == ["Approve", "Deny"]
    press = world.discord.press(buttons[0]["custom_id"], DAVE, shown["message"])
    chat.dispatch("INTERACTION_CREATE", press)
    assert "approved by dave" in chat.next(dm["channel_id"])["body"]["content"]
    result = chat.next(dm["channel_id"])["body"]["content"]
    assert "discord-command" in result and "succeeded" in result


def _gateway_cli(args: list[str], env: dict[str, str | None]) -> tuple[int, str]:
    """`nexflow gateway ARGS` in this process (each refusal happens before the server
    would start: no process and no second import of the CLI needed); its exit status
    and output."""
    from nexflow_control.cli import app
    from typer.testing import CliRunner

    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("NEXFLOW_")}
    done = CliRunner().invoke(app, ["gateway", *args], env=unset | env)
    return done.exit_code, done.output


def test_nexflow_gateway_alone_with_a_model_never_sends_commands_to_it(
    world: World, tmp_path: Path
) -> None:
    """`nexflow gateway --control-plane URL` (token from the environment, its own new
    database) serves the web chat with the scripted model: `/skills` and `/run` are
    answered without a request to the model, a plain message goes to it; the token
    appears in no log line."""
    llm = ScriptedLLM().start()
    made = world.stack.client.post(
        "/api/v1/users/alice/tokens", json={"name": "gw", "scopes": ["skills:read"]}
    )
    token = str(made.json()["token"])
    port = free_port()
    log_path = tmp_path / "gateway.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFLOW_")} | {
        "NEXFLOW_GATEWAY__TOKEN": token,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "NEXFLOW_LLM__MODEL": "openai/scripted-model",
        "NEXFLOW_LLM__API_BASE": llm.api_base,
        "NEXFLOW_LLM__API_KEY": API_KEY,
    }
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [
                *(str(NEXFLOW), "gateway", "--control-plane", world.stack.url),
                *("--port", str(port), "--home", str(tmp_path / "home")),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(
            proc, url, log_path, "nexflow gateway", seconds=240
        )  # litellm: slow to import on a busy machine
        alice = {"Authorization": f"Bearer {world.tokens['alice']}"}

        def chat(message: str) -> str:
            reply = httpx.post(f"{url}/api/v1/chat", json={"message": message}, headers=alice)
            assert reply.status_code == 200, reply.text
            return str(reply.json()["reply"])

        llm.script(say("the model must not be asked"))
        assert "- echo: Return the input object unchanged." in chat("/skills")
        assert "hi past the model" in chat('/run echo {"message": "hi past the model"}')
        assert "Any other message goes to the model" in chat("/help")
        assert llm.requests == []
        assert chat("hello model") == "the model must not be asked"
        assert len(llm.requests) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        llm.stop()
    logged = log_path.read_text()
    assert token not in logged and API_KEY not in logged and "Traceback" not in logged


def test_nexflow_gateway_refuses_to_start_plainly(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No token, an unreadable token file, a control plane that does not answer, a token
    it does not know: exit 2 with one line each, the token never printed."""

    def started(*_: object) -> None:  # the command would have become the server
        raise AssertionError("nexflow gateway started instead of refusing")

    monkeypatch.setattr(os, "execve", started)
    secret = "nxf_bogus_token_NEVER_PRINT"
    (tmp_path / "token").write_text(secret + "\n")
    nowhere = f"http://127.0.0.1:{free_port()}"
    missing = _gateway_cli(["--control-plane", world.stack.url], {})
    no_file = _gateway_cli(["--token-file", str(tmp_path / "absent")], {})
    gone = _gateway_cli(["--control-plane", nowhere, "--token-file", str(tmp_path / "token")], {})
    unknown = _gateway_cli(["--control-plane", world.stack.url], {"NEXFLOW_GATEWAY__TOKEN": secret})
    assert missing[0] == 2 and "NEXFLOW_GATEWAY__TOKEN" in missing[1], missing
    assert no_file[0] == 2 and "--token-file" in no_file[1], no_file
    assert gone[0] == 2 and f"cannot reach {nowhere}" in gone[1], gone
    assert unknown[0] == 2 and "does not accept" in unknown[1], unknown
    for _, said in (missing, no_file, gone, unknown):
        assert "Traceback" not in said and secret not in said
