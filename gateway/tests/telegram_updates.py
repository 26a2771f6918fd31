"""Telegram update JSON for the connector tests, shaped as the Bot API sends it."""

from __future__ import annotations

import itertools
import time
from typing import Any

from gateway.tests.fakes.telegram_api import BOT

_message_ids = itertools.count(1)


def user(user_id: int, name: str = "alice") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name.title(), "username": name}


def message(
    text: str | None,
    *,
    sender: dict[str, Any] | None,
    chat: dict[str, Any],
    entities: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat,
        **extra,
    }
    if sender is not None:
        body["from"] = sender
    if text is not None:
        body["text"] = text
    if entities:
        body["entities"] = entities
    return body


def private(text: str, user_id: int = 42, name: str = "alice") -> dict[str, Any]:
    chat = {"id": user_id, "type": "private", "first_name": name.title()}
    return {"message": message(text, sender=user(user_id, name), chat=chat)}


GROUP = {"id": -1001234, "type": "supergroup", "title": "ops"}


def group(text: str, user_id: int = 42, **extra: Any) -> dict[str, Any]:
    """A group message, with a mention/command entity where `text` names one."""
    entities = []
    for word in text.split():
        kind = "bot_command" if word.startswith("/") else "mention" if word[0] == "@" else None
        if kind:
            entities.append({"type": kind, "offset": text.index(word), "length": len(word)})
    return {"message": message(text, sender=user(user_id), chat=GROUP, entities=entities, **extra)}


def reply_to_bot(text: str, user_id: int = 42) -> dict[str, Any]:
    earlier = message("earlier answer", sender=BOT, chat=GROUP)
    return group(text, user_id, reply_to_message=earlier)


def callback(data: str, presser: int, chat_id: int = 42, message_id: int = 500) -> dict[str, Any]:
    shown = message("approve?", sender=BOT, chat={"id": chat_id, "type": "private"})
    shown["message_id"] = message_id
    return {
        "callback_query": {
            "id": f"cq{presser}{message_id}",
            "from": user(presser, "presser"),
            "chat_instance": "ci-1",
            "message": shown,
            "data": data,
        }
    }
