"""When `nexflow up` starts the chat gateway: the web chat by default, a bot token either
way, never when a gateway elsewhere is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from nexflow_control.cli import _gateway
from nexflow_control.settings import Settings


@pytest.fixture(autouse=True)
def _no_bots(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*_gateway.CHANNEL_TOKENS, "NEXFLOW_WEB_CHAT", "NEXFLOW_GATEWAY_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_web_chat_is_on_by_default(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).web_chat is True
    assert _gateway.wanted(Settings(home=tmp_path))


def test_off_by_setting_unless_a_bot_token_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXFLOW_WEB_CHAT", "false")
    assert not _gateway.wanted(Settings(home=tmp_path))
    for name in _gateway.CHANNEL_TOKENS:
        monkeypatch.setenv(name, "123:abc")
        assert _gateway.wanted(Settings(home=tmp_path)), name
        monkeypatch.delenv(name)


def test_a_gateway_named_elsewhere_is_not_started(tmp_path: Path) -> None:
    assert not _gateway.wanted(Settings(home=tmp_path, gateway_url="http://10.0.0.2:8090"))
