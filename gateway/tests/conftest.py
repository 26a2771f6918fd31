"""Fixtures for the gateway's tests: a real control plane (`nexflow up`, nsjail), the
scripted model server, and `nexflow-gateway serve` as its own process on a free port."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from nexflow_control.db import Database
from nexflow_gateway.connectors import Connector, Event, Press

from gateway.tests.fakes.discord_api import FakeDiscord
from gateway.tests.fakes.telegram_api import FakeTelegram
from gateway.tests.scripted_llm import ScriptedLLM
from tests.harness import Stack, free_port, start_stack, wait_healthy

GATEWAY = Path(sys.executable).with_name("nexflow-gateway")
API_KEY = "sk-test-NEVER-LOG-7f3a9c1e5b"
MAX_STEPS = 4
TURN_TIMEOUT_S = 20


@dataclass
class Gateway:
    url: str
    token: str
    log_path: Path
    proc: subprocess.Popen[bytes]
    client: httpx.Client

    def chat(self, message: str, session_id: str | None = None) -> httpx.Response:
        body = {"message": message} | ({"session_id": session_id} if session_id else {})
        return self.client.post("/api/v1/chat", json=body)

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A real control plane on nsjail."""
    s = start_stack(tmp_path_factory.mktemp("stack"), "--sandbox", "nsjail")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    yield server
    server.stop()


def _gateway_token(stack: Stack) -> str:
    """An operator (shell needs approval) whose token may run and list, never approve."""
    made = stack.client.post("/api/v1/users", json={"name": "chatter", "roles": ["operator"]})
    assert made.status_code == 201, made.text
    token = stack.client.post(
        "/api/v1/users/chatter/tokens",
        json={"name": "gateway", "scopes": ["calls:run", "skills:read"]},
    )
    assert token.status_code == 201, token.text
    return str(token.json()["token"])


def stack_database(stack: Stack) -> str:
    """The database `nexflow up` made (and migrated) in its home."""
    return f"sqlite+aiosqlite:///{stack.home / 'nexflow.db'}"


def migrated_database(folder: Path) -> str:
    """A fresh SQLite database migrated by the control plane's code (for a gateway with
    no control plane of its own)."""
    url = f"sqlite+aiosqlite:///{folder / 'nexflow.db'}"

    async def migrate() -> None:
        await (await Database.open(url)).close()

    asyncio.run(migrate())
    return url


def start_gateway(
    folder: Path,
    llm: ScriptedLLM,
    control_plane: str,
    token: str,
    database_url: str | None = None,
    port: int | None = None,
    **env_extra: str,
) -> Gateway:
    """`nexflow-gateway serve` on a free port, its log in `folder/gateway.log`, on
    `database_url` (a fresh migrated one by default); `env_extra` overrides the
    environment (`NEXFLOW_GATEWAY__LOG_LEVEL="INFO"`)."""
    port = port or free_port()
    log_path = folder / "gateway.log"
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "NEXFLOW_LLM__MODEL": "openai/scripted-model",
        "NEXFLOW_LLM__API_BASE": llm.api_base,
        "NEXFLOW_LLM__API_KEY": API_KEY,
        "NEXFLOW_LLM__MAX_STEPS": str(MAX_STEPS),
        "NEXFLOW_LLM__TURN_TIMEOUT_S": str(TURN_TIMEOUT_S),
        "NEXFLOW_LLM__MAX_TOOL_OUTPUT_CHARS": "2000",
        "NEXFLOW_GATEWAY__CONTROL_PLANE_URL": control_plane,
        "NEXFLOW_DATABASE_URL": database_url or migrated_database(folder),
        "NEXFLOW_HOME": str(folder),
        "NEXFLOW_GATEWAY__TOKEN": token,
        "NEXFLOW_GATEWAY__SKILLS_CACHE_S": "0",
        # DEBUG: the libraries' chattiest lines (request options, headers) must be redacted too
        "NEXFLOW_GATEWAY__LOG_LEVEL": "DEBUG",
        **env_extra,
    }
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [str(GATEWAY), "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, log_path, "nexflow-gateway", seconds=90)
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    return Gateway(url, token, log_path, proc, client)


def stop_gateway(gateway: Gateway) -> None:
    gateway.client.close()
    gateway.proc.terminate()
    gateway.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def gateway(
    stack: Stack, llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """The gateway in front of the module's control plane, with an operator's token."""
    folder = tmp_path_factory.mktemp("gateway")
    started = start_gateway(folder, llm, stack.url, _gateway_token(stack), stack_database(stack))
    yield started
    stop_gateway(started)


TELEGRAM_TOKEN = "123456:TEST-telegram-token-NEVER-LOG"
DISCORD_TOKEN = "MTEST.discord-token.NEVER-LOG"


@pytest.fixture
async def telegram_fake() -> AsyncIterator[FakeTelegram]:
    """A local Telegram Bot API server that knows the bot `TELEGRAM_TOKEN`."""
    server = await FakeTelegram(TELEGRAM_TOKEN).start()
    yield server
    await server.stop()


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    """A local Discord (REST and Gateway) that knows the bot `DISCORD_TOKEN`."""
    server = await FakeDiscord(DISCORD_TOKEN).start()
    yield server
    await server.stop()


async def next_item(connector: Connector) -> Event | Press:
    """The connector's next item, within 10 seconds."""
    async with asyncio.timeout(10):
        return await anext(aiter(connector.events()))


def until(ready: Callable[[], Any], stack: Stack, seconds: float = 90) -> Any:
    """Poll `ready()` until it is truthy; fail with the stack's log otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := ready():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out; the stack's log:\n{stack.log_path.read_text()[-6000:]}")
