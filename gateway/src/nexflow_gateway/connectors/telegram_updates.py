"""Telegram updates (the Bot API's JSON) into `Event`s and `Press`es, or a drop reason.

Only two kinds are taken: a text `message` (in a private chat always; in a group only when
it addresses the bot: an @mention, a reply to one of the bot's messages, or
`/command@botname`), and a `callback_query` from one of our buttons. Everything else
(edited messages, channel posts, stickers and other media, updates without a sender,
unknown kinds, malformed JSON) is a `Drop` with a reason the connector counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from telegram import CallbackQuery, Message, MessageEntity, Update

from .base import MAX_MESSAGE_CHARS, Event, Press
from .buttons import ButtonCodec

_GROUPS = frozenset({"group", "supergroup"})
_OTHER_KINDS = (
    ("edited_message", "edited"),
    ("edited_channel_post", "channel_post"),
    ("channel_post", "channel_post"),
)


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is (from getMe): what an addressed group message names."""

    id: int
    username: str


@dataclass(frozen=True)
class Drop:
    """An update not taken, and why (a counter's key)."""

    reason: str


def parse_update(
    raw: object, me: BotIdentity, codec: ButtonCodec
) -> tuple[Event | Press | Drop, CallbackQuery | None]:
    """The item `raw` stands for, and the callback query to answer (if it was one)."""
    if not isinstance(raw, dict):
        return Drop("malformed"), None
    try:
        update = Update.de_json(raw, None)
    except Exception:  # the library's parsers raise anything on hostile shapes
        return Drop("malformed"), None
    if update.callback_query is not None:
        return _press(update.callback_query, codec), update.callback_query
    if update.message is not None:
        return _event(update.update_id, update.message, me), None
    for key, reason in _OTHER_KINDS:
        if key in raw:
            return Drop(reason), None
    return Drop("unsupported_update"), None


def _event(update_id: int, msg: Message, me: BotIdentity) -> Event | Drop:
    sender = msg.from_user
    if sender is None:
        return Drop("no_sender")
    if sender.is_bot:
        return Drop("from_bot")
    if msg.text is None:
        return Drop("not_text")
    if len(msg.text) > MAX_MESSAGE_CHARS:
        return Drop("too_long")
    chat_type = msg.chat.type
    how: str | None = "private"
    if chat_type in _GROUPS:
        how = _addressed_by(msg, me)
        if how is None:
            return Drop("not_addressed")
    elif chat_type != "private":
        return Drop("channel_post")
    text = _unname(msg.text, me.username)
    if not text:
        return Drop("empty")
    try:
        return Event(
            id=f"telegram:{msg.chat.id}:{msg.message_id}",
            channel="telegram",
            user_id=str(sender.id),
            chat_id=str(msg.chat.id),
            message=text,
            metadata={
                "chat_type": chat_type,
                "addressed_by": how,
                "message_id": str(msg.message_id),
                "update_id": str(update_id),
                "username": (sender.username or "")[:64],
            },
            timestamp=msg.date,
        )
    except ValidationError:
        return Drop("invalid")


def _addressed_by(msg: Message, me: BotIdentity) -> str | None:
    """How a group message names the bot: `mention`, `reply` or `command`, else None."""
    name = "@" + me.username.lower()
    kinds: list[str | None] = [
        MessageEntity.MENTION,
        MessageEntity.TEXT_MENTION,
        MessageEntity.BOT_COMMAND,
    ]
    for entity, text in msg.parse_entities(kinds).items():
        if entity.type == MessageEntity.MENTION and text.lower() == name:
            return "mention"
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == me.id:
            return "mention"
        if entity.type == MessageEntity.BOT_COMMAND and text.lower().endswith(name):
            return "command"
    replied = msg.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        return "reply"
    return None


def _unname(text: str, username: str) -> str:
    """`text` without the bot's @name (`/skills@nexbot` → `/skills`, `@nexbot hi` → `hi`)."""
    name = re.escape(username)
    text = re.sub(rf"^(/\w+)@{name}(?!\w)", r"\1", text, flags=re.IGNORECASE)
    text = re.sub(rf"(?<![\w@])@{name}(?!\w)", "", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _press(query: CallbackQuery, codec: ButtonCodec) -> Press | Drop:
    pressed = codec.decode(query.data or "")
    if pressed is None:
        return Drop("unknown_button")
    message: Any = query.message
    chat_id = message.chat.id if message is not None else query.from_user.id
    try:
        return Press(
            id=f"telegram:cq:{query.id}",
            channel="telegram",
            user_id=str(query.from_user.id),
            chat_id=str(chat_id),
            approval_id=pressed.approval_id,
            decision=pressed.decision,
            nonce=pressed.nonce,
        )
    except ValidationError:
        return Drop("unknown_button")
