"""`nexflow-gateway serve` with Telegram configured: the webhook answers on the gateway's own
address, items reach the consumer, a forged delivery is refused, the token is never logged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nexflow_gateway.connectors.runner import TELEGRAM_WEBHOOK_PATH

from gateway.tests import telegram_updates as tg
from gateway.tests.conftest import start_gateway, stop_gateway
from gateway.tests.fakes.telegram_api import FakeTelegram
from gateway.tests.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.e2e]

TOKEN = "123456:TEST-serve-token-NEVER-LOG"
SECRET = "serve_secret-0123456789abcdef"


async def test_serve_runs_telegram_webhook(tmp_path: Path) -> None:
    """The webhook set at start-up (with its secret) is served on the gateway's address:
    a delivery without the secret is refused, the genuine one becomes a logged item, and
    neither the bot token nor the secret appears in the gateway's log."""
    fake = await FakeTelegram(TOKEN).start()
    llm = ScriptedLLM().start()
    try:
        gateway = await asyncio.to_thread(
            start_gateway,
            tmp_path,
            llm,
            "http://127.0.0.1:9",
            "gateway-token-for-chat",
            NEXFLOW_TELEGRAM__TOKEN=TOKEN,
            NEXFLOW_TELEGRAM__API_BASE=fake.url,
            NEXFLOW_TELEGRAM__MODE="webhook",
            NEXFLOW_TELEGRAM__WEBHOOK_URL="https://chat.example.org/telegram/webhook",
            NEXFLOW_TELEGRAM__WEBHOOK_SECRET=SECRET,
        )
        try:
            for _ in range(300):
                if fake.webhook is not None:
                    break
                await asyncio.sleep(0.1)
            assert fake.webhook is not None and fake.webhook["secret_token"] == SECRET
            here = gateway.url + TELEGRAM_WEBHOOK_PATH
            update = {"update_id": 1, **tg.private("hello from telegram", user_id=31)}
            assert await fake.deliver(update, secret="forged-secret-000000000", url=here) == 401
            assert await fake.deliver(update, url=here) == 200
            for _ in range(100):
                if '"connector.item"' in gateway.log():
                    break
                await asyncio.sleep(0.1)
            log = gateway.log()
            assert '"id": "telegram:31:' in log
            assert TOKEN not in log and TOKEN.split(":")[1] not in log and SECRET not in log
        finally:
            await asyncio.to_thread(stop_gateway, gateway)
    finally:
        llm.stop()
        await fake.stop()
