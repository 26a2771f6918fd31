"""The Telegram webhook on a real HTTP server: secret header, replays, registration."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from nexflow_gateway.connectors import Event
from nexflow_gateway.connectors.runner import TELEGRAM_WEBHOOK_PATH, ConnectorSet
from nexflow_gateway.connectors.telegram import TelegramConnector
from nexflow_gateway.settings import Settings, TelegramSettings
from pydantic import SecretStr
from starlette.applications import Starlette

from gateway.tests import telegram_updates as tg
from gateway.tests.conftest import TELEGRAM_TOKEN as TOKEN
from gateway.tests.fakes.telegram_api import FakeTelegram

SECRET = "s3cret_webhook-0123456789"


@pytest.fixture
async def hooked(telegram_fake: FakeTelegram) -> AsyncIterator[TelegramConnector]:
    """A webhook-mode connector whose route is served by uvicorn on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = Settings(
        telegram=TelegramSettings(
            token=SecretStr(TOKEN),
            api_base=telegram_fake.url,
            mode="webhook",
            webhook_url=f"http://127.0.0.1:{port}{TELEGRAM_WEBHOOK_PATH}",
            webhook_secret=SecretStr(SECRET),
        )
    )
    connectors = ConnectorSet.from_settings(settings)
    (connector,) = connectors.configured
    assert isinstance(connector, TelegramConnector)
    app = Starlette(routes=connectors.webhook_routes())
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    await connector.start()
    yield connector
    await connector.stop()
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    sock.close()


async def test_webhook_registered_with_secret(
    telegram_fake: FakeTelegram, hooked: TelegramConnector
) -> None:
    """Start registers the webhook with its secret token and only the update kinds we take."""
    assert telegram_fake.webhook is not None
    assert telegram_fake.webhook["secret_token"] == SECRET
    assert telegram_fake.webhook["allowed_updates"] == ["message", "callback_query"]
    assert "getupdates" not in telegram_fake.calls


async def test_webhook_secret_checked(
    telegram_fake: FakeTelegram, hooked: TelegramConnector
) -> None:
    """A delivery with a wrong or missing secret header is refused (401) and yields nothing;
    the genuine one yields its Event; the same update delivered again is dropped as a replay."""
    update = {"update_id": 9001, **tg.private("from the webhook", user_id=55)}
    assert await telegram_fake.deliver(update, secret="wrong-secret-value-000") == 401
    assert await telegram_fake.deliver(update, secret=SECRET[:-1]) == 401
    assert await telegram_fake.deliver(update, secret=None) == 401
    assert await telegram_fake.deliver(update) == 200
    async with asyncio.timeout(5):
        item = await anext(aiter(hooked.events()))
    assert isinstance(item, Event) and (item.user_id, item.message) == ("55", "from the webhook")
    assert await telegram_fake.deliver(update) == 200
    assert hooked.drops.counts["webhook_refused"] == 3
    assert hooked.drops.counts["replay"] == 1
    assert await telegram_fake.deliver({"update_id": 9002, **tg.private("next")}) == 200
    async with asyncio.timeout(5):
        item = await anext(aiter(hooked.events()))
    assert isinstance(item, Event) and item.message == "next"  # the replay queued nothing


async def test_webhook_refuses_oversized_and_non_json(hooked: TelegramConnector) -> None:
    """With the right secret, a body over 1 MiB gets 413 and a non-JSON one 400; nothing
    is queued and the connector keeps serving."""
    url = hooked._settings.webhook_url
    assert url is not None
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient(timeout=30) as client:
        big = await client.post(url, content=b"{" + b" " * (2 * 1024 * 1024), headers=headers)
        bad = await client.post(url, content=b"\xff\x00not json", headers=headers)
        good = await client.post(url, json={"update_id": 5, **tg.private("ok")}, headers=headers)
    assert (big.status_code, big.json()["error"]) == (413, "payload_too_large")
    assert (bad.status_code, bad.json()["error"]) == (400, "bad_request")
    assert good.status_code == 200
    async with asyncio.timeout(5):
        item = await anext(aiter(hooked.events()))
    assert isinstance(item, Event) and item.message == "ok"


def test_webhook_mode_needs_a_strong_secret() -> None:
    """Webhook mode without a secret (or a short one) is refused when settings are built."""
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        TelegramSettings(token=SecretStr(TOKEN), mode="webhook", webhook_url="https://x/hook")
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        TelegramSettings(
            token=SecretStr(TOKEN),
            mode="webhook",
            webhook_url="https://x/hook",
            webhook_secret=SecretStr("short"),
        )
