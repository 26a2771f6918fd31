"""The Telegram connector against a local Bot API server (gateway/tests/fakes), long polling."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nexflow_gateway.connectors import Button, ConnectorError, Event, Press, Reply
from nexflow_gateway.connectors.telegram import TelegramConnector
from nexflow_gateway.settings import TelegramSettings
from pydantic import SecretStr

from gateway.tests import telegram_updates as tg
from gateway.tests.conftest import TELEGRAM_TOKEN as TOKEN
from gateway.tests.conftest import next_item
from gateway.tests.fakes.telegram_api import BOT, FakeTelegram

NONCE = "n0nce-0123456789abcdef"
STICKER = {
    "file_id": "s1",
    "file_unique_id": "u1",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}


@pytest.fixture
async def bot(telegram_fake: FakeTelegram) -> AsyncIterator[TelegramConnector]:
    settings = TelegramSettings(
        token=SecretStr(TOKEN), api_base=telegram_fake.url, poll_timeout_s=1
    )
    connector = TelegramConnector(settings)
    await connector.start()
    yield connector
    await connector.stop()


async def test_private_message_becomes_event(
    telegram_fake: FakeTelegram, bot: TelegramConnector
) -> None:
    """A private text message arrives as an Event with the sender's and the chat's ids."""
    await telegram_fake.push(tg.private("what failed in CI?", user_id=4242, name="bob"))
    item = await next_item(bot)
    assert isinstance(item, Event)
    assert (item.channel, item.user_id, item.chat_id) == ("telegram", "4242", "4242")
    assert item.message == "what failed in CI?"
    assert item.metadata["chat_type"] == "private"
    assert item.metadata["username"] == "bob"


async def test_group_only_when_addressed(
    telegram_fake: FakeTelegram, bot: TelegramConnector
) -> None:
    """In a group, chatter, other bots' commands and a bare /command are dropped; a mention,
    a reply to the bot and /command@botname are taken, without the bot's name."""
    for ignored in ("morning all", "/skills@otherbot", "/skills", "hey @someone"):
        await telegram_fake.push(tg.group(ignored))
    await telegram_fake.push(tg.group("@nexbot what failed?", user_id=7))
    await telegram_fake.push(tg.reply_to_bot("and the one before?", user_id=8))
    await telegram_fake.push(tg.group("/skills@NexBot", user_id=9))
    taken = [await next_item(bot) for _ in range(3)]
    assert all(isinstance(e, Event) for e in taken)
    events = [e for e in taken if isinstance(e, Event)]
    assert [(e.user_id, e.message, e.metadata["addressed_by"]) for e in events] == [
        ("7", "what failed?", "mention"),
        ("8", "and the one before?", "reply"),
        ("9", "/skills", "command"),
    ]
    assert all(e.chat_id == str(tg.GROUP["id"]) for e in events)
    assert bot.drops.counts["not_addressed"] == 4


async def test_long_reply_split_and_escaped(
    telegram_fake: FakeTelegram, bot: TelegramConnector
) -> None:
    """A 3-piece reply full of MarkdownV2's reserved characters arrives split on line
    boundaries under 4096 characters, each piece accepted and shown exactly as written."""
    line = "step_1 *failed* at [job](x) #3: a-b=c | {d}. done! `x` > y ~ z + w \\ end"
    text = "\n".join(f"{n:04d} {line}" for n in range(140))
    await bot.send(Reply(chat_id="42", text=text))
    assert len(telegram_fake.sent) == 3
    shown = [s["parsed_text"] for s in telegram_fake.sent]
    assert all(len(piece) <= 4096 for piece in shown)
    assert all(s["parse_mode"] == "MarkdownV2" for s in telegram_fake.sent)
    assert "\n".join(shown) == text
    assert all(piece.endswith("end") for piece in shown)


async def test_unescaped_markdown_is_refused_by_the_server(telegram_fake: FakeTelegram) -> None:
    """The fake refuses unescaped MarkdownV2 as Telegram does (so the escaping test can fail)."""
    settings = TelegramSettings(
        token=SecretStr(TOKEN), api_base=telegram_fake.url, poll_timeout_s=1
    )
    connector = TelegramConnector(settings)
    await connector.start()
    try:
        with pytest.raises(ConnectorError, match="reserved"):
            await connector._call(
                connector._bot.send_message, chat_id=1, text="a.b", parse_mode="MarkdownV2"
            )
    finally:
        await connector.stop()


def approval_buttons(approval_id: str) -> tuple[Button, ...]:
    return (
        Button(label="Approve", approval_id=approval_id, decision="approve", nonce=NONCE),
        Button(label="Deny", approval_id=approval_id, decision="deny", nonce=NONCE),
    )


@pytest.mark.parametrize("approval_id", ["a_0123456789abcdef", "a_" + "x" * 100])
async def test_button_press_becomes_press(
    telegram_fake: FakeTelegram, bot: TelegramConnector, approval_id: str
) -> None:
    """Buttons carry callback data of at most 64 bytes (short or long approval ids); each
    press becomes a Press for that approval, decision and nonce, carrying the presser's own
    id, and its callback query is answered."""
    await bot.send(
        Reply(chat_id="42", text="shell wants to run", buttons=approval_buttons(approval_id))
    )
    (sent,) = telegram_fake.sent
    keys = sent["reply_markup"]["inline_keyboard"][0]
    assert [k["text"] for k in keys] == ["Approve", "Deny"]
    assert all(1 <= len(k["callback_data"].encode()) <= 64 for k in keys)
    await telegram_fake.push(tg.callback(keys[1]["callback_data"], presser=42))
    await telegram_fake.push(tg.callback(keys[0]["callback_data"], presser=99))
    pressed = [await next_item(bot) for _ in range(2)]
    assert all(isinstance(p, Press) for p in pressed)
    presses = [p for p in pressed if isinstance(p, Press)]
    assert [(p.user_id, p.decision) for p in presses] == [("42", "deny"), ("99", "approve")]
    assert all((p.approval_id, p.nonce, p.chat_id) == (approval_id, NONCE, "42") for p in presses)
    assert [a["callback_query_id"] for a in telegram_fake.answered] == ["cq42500", "cq99500"]


async def test_forged_button_data_is_dropped(
    telegram_fake: FakeTelegram, bot: TelegramConnector
) -> None:
    """Callback data that is not one of our buttons yields no Press, only a counted drop
    and an answer saying the button is not valid."""
    for data in ("approve a_1", "nx:x:" + NONCE + ":a_1", "nh:never-issued", "nx:a:short:a_1"):
        await telegram_fake.push(tg.callback(data, presser=42))
    await telegram_fake.push(tg.private("still here"))
    item = await next_item(bot)
    assert isinstance(item, Event) and item.message == "still here"
    assert bot.drops.counts["unknown_button"] == 4
    assert all(a["text"] == "This button is no longer valid." for a in telegram_fake.answered)


async def test_retire_removes_buttons(telegram_fake: FakeTelegram, bot: TelegramConnector) -> None:
    """Once an approval is decided, `retire` takes its keyboard off the message."""
    await bot.send(Reply(chat_id="42", text="approve?", buttons=approval_buttons("a_1")))
    await bot.retire("a_1")
    (edit,) = telegram_fake.edited
    assert (int(edit["chat_id"]), int(edit["message_id"])) == (
        42,
        telegram_fake.sent[0]["message"]["message_id"],
    )
    assert "reply_markup" not in edit or not edit["reply_markup"]


async def test_hostile_updates_dropped(telegram_fake: FakeTelegram, bot: TelegramConnector) -> None:
    """Huge text, unknown fields, no sender, edits, channel posts, stickers, bots and
    malformed shapes are each dropped with a counted reason; the next message still arrives."""
    chat = {"id": 42, "type": "private"}
    hostile = [
        tg.private("x" * 20_000),
        {"message": tg.message("hi", sender=None, chat=chat)},
        {"edited_message": tg.message("edited", sender=tg.user(42), chat=chat, edit_date=1)},
        {"channel_post": tg.message("post", sender=None, chat={"id": -100, "type": "channel"})},
        {"message": tg.message(None, sender=tg.user(42), chat=chat, sticker=STICKER)},
        {"message": tg.message("beep", sender=BOT, chat=chat)},
        {"message": {"message_id": 1, "chat": "not-a-chat"}},
        {"some_future_kind": {"id": "p"}},
        {"message": tg.message("  @nexbot  ", sender=tg.user(42), chat=chat)},
    ]
    for update in hostile:
        await telegram_fake.push(update)
    unknown = tg.private("with unknown fields")
    unknown["message"]["future_field"] = {"nested": [1, 2]}
    unknown["brand_new_kind"] = True
    await telegram_fake.push(unknown)
    item = await next_item(bot)
    assert isinstance(item, Event) and item.message == "with unknown fields"
    assert dict(bot.drops.counts) == {
        "too_long": 1,
        "no_sender": 1,
        "edited": 1,
        "channel_post": 1,
        "not_text": 1,
        "from_bot": 1,
        "malformed": 1,
        "unsupported_update": 1,
        "empty": 1,
    }


async def test_bad_token_fails_start_cleanly(telegram_fake: FakeTelegram) -> None:
    """A refused token fails `start` with one ConnectorError whose message holds no token."""
    bad = "999:WRONG-token-value"
    connector = TelegramConnector(
        TelegramSettings(token=SecretStr(bad), api_base=telegram_fake.url)
    )
    with pytest.raises(ConnectorError) as caught:
        await connector.start()
    assert "telegram" in caught.value.message
    assert bad not in caught.value.message and "WRONG" not in caught.value.message
