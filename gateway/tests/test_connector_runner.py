"""The configured connectors run side by side: one that cannot start logs one line and the
others deliver to the consumer; bot tokens never reach a log line."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
import structlog
from nexflow_gateway import logs
from nexflow_gateway.connectors import Connector, Event, Press, Reply
from nexflow_gateway.connectors.runner import ConnectorSet
from nexflow_gateway.settings import DiscordSettings, Settings, TelegramSettings
from pydantic import SecretStr
from structlog.testing import capture_logs

from gateway.tests import telegram_updates as tg
from gateway.tests.conftest import TELEGRAM_TOKEN as TOKEN
from gateway.tests.fakes.telegram_api import FakeTelegram

DISCORD_TOKEN = "MTEST.runner-discord.NEVER-LOG"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_for(telegram_fake: FakeTelegram) -> Settings:
    return Settings(
        telegram=TelegramSettings(
            token=SecretStr(TOKEN), api_base=telegram_fake.url, poll_timeout_s=1
        ),
        discord=DiscordSettings(
            token=SecretStr(DISCORD_TOKEN),
            api_base=f"http://127.0.0.1:{closed_port()}/api/v10",
            start_timeout_s=5,
        ),
    )


async def test_failed_connector_does_not_stop_the_others(telegram_fake: FakeTelegram) -> None:
    """Discord unreachable: one `connector.failed` line naming it; Telegram's message still
    reaches the consumer, with the connector to reply through."""
    got: asyncio.Queue[tuple[Connector, Event | Press]] = asyncio.Queue()

    async def on_item(connector: Connector, item: Event | Press) -> None:
        await got.put((connector, item))

    connectors = ConnectorSet.from_settings(settings_for(telegram_fake))
    with capture_logs() as lines:
        await connectors.start(on_item)
    try:
        failed = [line for line in lines if line["event"] == "connector.failed"]
        assert [(f["channel"], "could not start" in f["error"]) for f in failed] == [
            ("discord", True)
        ]
        assert DISCORD_TOKEN not in str(lines)
        assert set(connectors.running) == {"telegram"}
        await telegram_fake.push(tg.private("hello runner", user_id=77))
        async with asyncio.timeout(10):
            connector, item = await got.get()
        assert isinstance(item, Event) and (item.user_id, item.message) == ("77", "hello runner")
        await connector.send(Reply(chat_id=item.chat_id, text="hi."))
        assert telegram_fake.sent[-1]["parsed_text"] == "hi."
    finally:
        await connectors.stop()


async def test_tokens_never_logged(
    telegram_fake: FakeTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the gateway's logging, the Telegram token (in every Bot API URL httpx logs at
    INFO, and in the library's own error text) appears in no line."""
    settings = settings_for(telegram_fake)
    logs.configure(settings.secrets(), logging.DEBUG)
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.INFO)  # litellm, imported by other tests, quiets it
    try:
        connectors = ConnectorSet.from_settings(settings)
        await connectors.start(lambda _c, _i: asyncio.sleep(0))
        telegram = connectors.get("telegram")
        assert telegram is not None
        await telegram.send(Reply(chat_id="42", text="ping"))
        await connectors.stop()
    finally:
        httpx_logger.setLevel(level)
        structlog.reset_defaults()
        logging.getLogger().handlers[:] = []
    out = capsys.readouterr().out
    events = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    assert any("HTTP Request" in e and "sendMessage" in e for e in events)  # URLs were logged
    assert TOKEN not in out and DISCORD_TOKEN not in out
    assert TOKEN.split(":")[1] not in out
