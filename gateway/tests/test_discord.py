"""The Discord connector against a local REST API and Gateway websocket (gateway/tests/fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nexflow_gateway.connectors import Button, ConnectorError, Event, Press, Reply
from nexflow_gateway.connectors.discord import DiscordConnector
from nexflow_gateway.settings import DiscordSettings
from pydantic import SecretStr

from gateway.tests.conftest import DISCORD_TOKEN as TOKEN
from gateway.tests.conftest import next_item
from gateway.tests.fakes.discord_api import BOT, BOT_ID, CHANNEL_ID, GUILD_ID, FakeDiscord, user

NONCE = "n0nce-0123456789abcdef"
ALICE = user(111, "alice")
MALLORY = user(222, "mallory")


@pytest.fixture
async def bot(discord_fake: FakeDiscord) -> AsyncIterator[DiscordConnector]:
    connector = DiscordConnector(
        DiscordSettings(token=SecretStr(TOKEN), api_base=discord_fake.api_base)
    )
    await connector.start()
    yield connector
    await connector.stop()


async def test_dm_becomes_event(discord_fake: FakeDiscord, bot: DiscordConnector) -> None:
    """A DM arrives as an Event with the author's id and the DM channel's id, and the bot
    identified without privileged intents (no message_content)."""
    data = discord_fake.message("what failed in CI?", ALICE)
    await discord_fake.dispatch("MESSAGE_CREATE", data)
    item = await next_item(bot)
    assert isinstance(item, Event)
    assert (item.channel, item.user_id, item.chat_id) == ("discord", "111", data["channel_id"])
    assert item.message == "what failed in CI?"
    assert item.metadata["chat_type"] == "dm"
    assert discord_fake.identify is not None and not discord_fake.identify["intents"] & (1 << 15)


async def test_guild_only_when_mentioned(discord_fake: FakeDiscord, bot: DiscordConnector) -> None:
    """In a server channel a message without a mention of the bot (or from a bot) is
    dropped; a mention is taken, without the mention text."""
    await discord_fake.dispatch(
        "MESSAGE_CREATE", discord_fake.message("morning all", ALICE, guild=True)
    )
    await discord_fake.dispatch(
        "MESSAGE_CREATE", discord_fake.message(f"<@{BOT_ID}> me", BOT, guild=True)
    )
    other = discord_fake.message("<@5> look", ALICE, guild=True, mentions=[user(5, "bob")])
    await discord_fake.dispatch("MESSAGE_CREATE", other)
    asked = discord_fake.message(f"<@{BOT_ID}> what failed?", MALLORY, guild=True, mentions=[BOT])
    await discord_fake.dispatch("MESSAGE_CREATE", asked)
    item = await next_item(bot)
    assert isinstance(item, Event)
    assert (item.user_id, item.chat_id, item.message) == ("222", str(CHANNEL_ID), "what failed?")
    assert item.metadata["chat_type"] == "guild" and item.metadata["guild_id"] == str(GUILD_ID)
    assert bot.drops.counts == {"not_addressed": 2, "from_bot": 1}


async def test_long_reply_split_without_pings(
    discord_fake: FakeDiscord, bot: DiscordConnector
) -> None:
    """A 5000-character reply arrives in pieces of at most 2000 on line boundaries, each
    sent with no allowed mentions, so an @everyone in it pings nobody."""
    text = "\n".join(f"line {n:03d} @everyone <@&5> <@111> see" for n in range(130))
    await bot.send(Reply(chat_id=str(CHANNEL_ID), text=text))
    bodies = [m["body"] for m in discord_fake.messages]
    assert len(bodies) == 3
    assert all(len(b["content"]) <= 2000 and b["content"].endswith("see") for b in bodies)
    assert "\n".join(b["content"] for b in bodies) == text
    assert all(b["allowed_mentions"] == {"parse": []} for b in bodies)  # no users, roles, all


@pytest.mark.parametrize("approval_id", ["a_0123456789abcdef", "a_" + "y" * 120])
async def test_buttons_and_presses(
    discord_fake: FakeDiscord, bot: DiscordConnector, approval_id: str
) -> None:
    """Approval buttons arrive as components whose custom_id fits 100 characters; a press
    (by the asker or by someone else) becomes a Press for that approval and nonce carrying
    the presser's own id, and each interaction is acknowledged."""
    buttons = tuple(
        Button(label=label, approval_id=approval_id, decision=decision, nonce=NONCE)
        for label, decision in (("Approve", "approve"), ("Deny", "deny"))
    )
    dm = discord_fake.message("run the shell", ALICE)  # alice's DM channel, 1111
    await bot.send(Reply(chat_id=dm["channel_id"], text="shell wants to run", buttons=buttons))
    (sent,) = discord_fake.messages
    keys = sent["body"]["components"][0]["components"]
    assert [(k["label"], k["style"]) for k in keys] == [("Approve", 3), ("Deny", 4)]
    assert all(len(k["custom_id"]) <= 100 for k in keys)
    await discord_fake.dispatch(
        "INTERACTION_CREATE", discord_fake.press(keys[0]["custom_id"], ALICE, sent["message"])
    )
    await discord_fake.dispatch(
        "INTERACTION_CREATE", discord_fake.press(keys[1]["custom_id"], MALLORY, sent["message"])
    )
    presses = [await next_item(bot) for _ in range(2)]
    assert all(isinstance(p, Press) for p in presses)
    got = [
        (p.user_id, p.decision, p.approval_id, p.nonce, p.chat_id)
        for p in presses
        if isinstance(p, Press)
    ]
    assert got == [
        ("111", "approve", approval_id, NONCE, "1111"),
        ("222", "deny", approval_id, NONCE, "1111"),
    ]
    assert [c["body"]["type"] for c in discord_fake.callbacks] == [6, 6]
    await bot.retire(approval_id)
    (edit,) = discord_fake.edits
    assert edit["message"] == sent["message"]["id"] and edit["body"]["components"] == []


async def test_forged_custom_id_dropped(discord_fake: FakeDiscord, bot: DiscordConnector) -> None:
    """A component interaction whose custom_id is not one of our buttons yields no Press:
    it is answered as invalid (ephemeral) and counted."""
    shown = discord_fake.message("approve?", BOT)
    await discord_fake.dispatch(
        "INTERACTION_CREATE", discord_fake.press("nx:a:short:a_1", MALLORY, shown)
    )
    await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message("still here", ALICE))
    item = await next_item(bot)
    assert isinstance(item, Event) and item.message == "still here"
    for _ in range(500):  # the library runs each event as its own task
        if discord_fake.callbacks:
            break
        await asyncio.sleep(0.02)
    assert bot.drops.counts["unknown_button"] == 1
    (answer,) = discord_fake.callbacks
    assert answer["body"]["type"] == 4 and answer["body"]["data"]["flags"] == 64


async def test_reply_to_a_user_opens_their_dm_once(
    discord_fake: FakeDiscord, bot: DiscordConnector
) -> None:
    """A reply to a user id (the outbox's `discord:<user>`) is refused by Discord as an
    unknown channel; the connector opens the user's DM once (`recipient_id`), sends there,
    and sends the next reply straight to the kept DM; a user it cannot DM is one
    ConnectorError and nothing sent."""
    await bot.send(Reply(chat_id="333", text="scheduled result"))
    await bot.send(Reply(chat_id="333", text="second result"))
    assert [str(o["recipient_id"]) for o in discord_fake.dm_opens] == ["333"]
    assert [(m["channel_id"], m["body"]["content"]) for m in discord_fake.messages] == [
        ("1333", "scheduled result"),
        ("1333", "second result"),
    ]
    with pytest.raises(ConnectorError) as caught:
        await bot.send(Reply(chat_id=str(BOT_ID), text="to myself"))
    assert "Unknown User" in caught.value.message and len(discord_fake.messages) == 2


async def test_bad_token_fails_start(discord_fake: FakeDiscord) -> None:
    """A refused token fails `start` with one ConnectorError that holds no token."""
    bad = "WRONG.discord.token"
    connector = DiscordConnector(
        DiscordSettings(token=SecretStr(bad), api_base=discord_fake.api_base)
    )
    with pytest.raises(ConnectorError) as caught:
        await connector.start()
    assert "discord" in caught.value.message and bad not in caught.value.message


async def test_malformed_gateway_events_do_not_end_the_connection(
    discord_fake: FakeDiscord, bot: DiscordConnector
) -> None:
    """A MESSAGE_CREATE without an author and an interaction of an unknown kind are
    survived: the next DM still arrives."""
    broken = discord_fake.message("no author", ALICE)
    del broken["author"]
    await discord_fake.dispatch("MESSAGE_CREATE", broken)
    odd = discord_fake.press("x", ALICE, discord_fake.message("m", BOT))
    odd["type"] = 99
    await discord_fake.dispatch("INTERACTION_CREATE", odd)
    await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message("still here", ALICE))
    item = await next_item(bot)
    assert isinstance(item, Event) and item.message == "still here"
