"""Discord through discord.py: DMs always, server channels only when the bot is mentioned.

The bot asks for no privileged intent (`message_content` is not needed: Discord delivers
the text of DMs and of messages that mention the bot anyway, and a bot that asks for it
without the portal switch is refused at IDENTIFY). Replies are split at 2000 characters
and sent with no allowed mentions, so nothing the model writes pings `@everyone`, a role
or a user. Approval buttons are message components whose `custom_id` carries approval id,
decision and nonce; presses are read from every component interaction (not from a
`View` kept in memory), so a button still works after the gateway restarts.

A reply's `chat_id` is a channel id (where a message came from) or a user id (the
outbox's `discord:<user>` destinations: a schedule's results go to its owner's DM).
Discord answers a message to a user id with 404 "Unknown Channel" (code 10003): the
connector then opens the DM channel (`POST /users/@me/channels`, `recipient_id`), keeps
the user → DM channel pair, and sends there; snowflakes are unique across kinds, so a
user id is never mistaken for someone else's channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import structlog
import yarl
from pydantic import ValidationError

with warnings.catch_warnings():  # its voice player imports audioop (deprecated in 3.12)
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

from ..settings import DiscordSettings
from .base import Button, Connector, ConnectorError, Event, Press, Reply
from .buttons import ButtonCodec
from .chunks import split_text
from .drops import Drops
from .inbox import Inbox

log = structlog.get_logger("nexflow_gateway.connectors.discord")

MAX_TEXT = 2000
MAX_CUSTOM_ID = 100
MAX_DMS = 10_000
UNKNOWN_CHANNEL = 10003  # Discord's JSON error code for a channel id it does not know
_STYLES = {"approve": discord.ButtonStyle.success, "deny": discord.ButtonStyle.danger}


class _Client(discord.Client):
    """The library's client, its two events handed to the connector."""

    def __init__(self, connector: DiscordConnector) -> None:
        intents = discord.Intents.none()
        intents.guilds = intents.guild_messages = intents.dm_messages = True
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        self._connector = connector

    async def on_message(self, message: discord.Message) -> None:
        await self._connector._on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self._connector._on_interaction(interaction)


class DiscordConnector(Connector):
    """One Discord bot; `settings.token` must be set."""

    channel = "discord"

    def __init__(self, settings: DiscordSettings) -> None:
        if settings.token is None:
            raise ConnectorError("discord: no token configured")
        self._settings = settings
        self._codec = ButtonCodec(MAX_CUSTOM_ID)
        self._inbox = Inbox()
        self._client: _Client | None = None
        self._runner: asyncio.Task[None] | None = None
        self._sent_buttons: OrderedDict[str, list[tuple[int, int]]] = OrderedDict()
        self._dms: OrderedDict[int, int] = OrderedDict()  # user id → their DM channel's id
        self.drops = Drops("discord")

    async def start(self) -> None:
        s = self._settings
        assert s.token is not None
        # discord.py reads both addresses from class attributes: one Discord per process.
        Route.BASE = s.api_base.rstrip("/")
        client = self._client = _Client(self)
        try:
            async with asyncio.timeout(s.start_timeout_s):
                await client.login(s.token.get_secret_value())
                _shards, url, _limits = await client.http.get_bot_gateway()
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
                self._runner = asyncio.create_task(client.connect(), name="discord-gateway")
                ready = asyncio.create_task(client.wait_until_ready())
                await asyncio.wait({ready, self._runner}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.done():
                    ready.cancel()
                    self._runner.result()  # raises what ended the connection
                    raise ConnectorError("discord: the gateway closed before READY")
        except (discord.DiscordException, OSError, TimeoutError) as exc:
            await self.stop()
            raise ConnectorError(f"discord: could not start: {_describe(exc)}") from None
        assert client.user is not None
        log.info("connector.started", channel="discord", bot=client.user.name)

    async def stop(self) -> None:
        if self._client is not None and not self._client.is_closed():
            await self._client.close()
        if self._runner is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._runner
        self._inbox.close()

    def events(self) -> AsyncIterator[Event | Press]:
        return aiter(self._inbox)

    async def _on_message(self, message: discord.Message) -> None:
        item = self._event(message)
        if isinstance(item, str):
            self.drops.drop(item, message.id)
        else:
            await self._inbox.put(item)

    def _event(self, message: discord.Message) -> Event | str:
        """The Event `message` stands for, or the reason it is dropped."""
        me = self._client.user if self._client else None
        if me is None or message.author.id == me.id or message.author.bot:
            return "from_bot"
        in_dm = message.guild is None and getattr(message.channel, "guild_id", None) is None
        if not in_dm and not any(u.id == me.id for u in message.mentions):
            return "not_addressed"
        text = re.sub(rf"<@!?{me.id}>", "", message.content).strip()
        if not text:
            return "not_text" if not message.content else "empty"
        try:
            return Event(
                id=f"discord:{message.id}",
                channel="discord",
                user_id=str(message.author.id),
                chat_id=str(message.channel.id),
                message=text,
                metadata={
                    "chat_type": "dm" if in_dm else "guild",
                    "message_id": str(message.id),
                    "guild_id": str(message.guild.id) if message.guild else "",
                    "username": message.author.name[:64],
                },
                timestamp=message.created_at,
            )
        except ValidationError:
            return "too_long" if len(text) > 16_000 else "invalid"

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.component:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = data.get("custom_id")
        pressed = self._codec.decode(custom_id) if isinstance(custom_id, str) else None
        press: Press | None = None
        if pressed is not None:
            with contextlib.suppress(ValidationError):
                press = Press(
                    id=f"discord:ia:{interaction.id}",
                    channel="discord",
                    user_id=str(interaction.user.id),
                    chat_id=str(interaction.channel_id or interaction.user.id),
                    approval_id=pressed.approval_id,
                    decision=pressed.decision,
                    nonce=pressed.nonce,
                )
        if press is None:
            self.drops.drop("unknown_button", interaction.id)
        try:
            if press is None:
                await interaction.response.send_message(
                    "This button is no longer valid.", ephemeral=True
                )
            else:
                await interaction.response.defer()  # acknowledged; the verdict follows
        except (discord.DiscordException, aiohttp.ClientError) as exc:
            log.warning("discord.ack_failed", error=_describe(exc))
        if press is not None:
            await self._inbox.put(press)

    async def send(self, reply: Reply) -> None:
        if self._client is None:
            raise ConnectorError("discord: not started")
        if not reply.chat_id.isdigit():
            raise ConnectorError(f"discord: {reply.chat_id!r} is not a channel id")
        chat = int(reply.chat_id)
        channel_id = self._dms.get(chat, chat)
        try:
            await self._send_to(channel_id, reply)
        except _UnknownChannel:
            if channel_id != chat:  # the DM we opened is gone: open it again next time
                self._dms.pop(chat, None)
                raise ConnectorError("discord: the DM channel is gone") from None
            await self._send_to(await self._open_dm(chat), reply)

    async def _send_to(self, channel_id: int, reply: Reply) -> None:
        """`reply` in pieces to the channel `channel_id`; `_UnknownChannel` if Discord
        knows no such channel (said at the first piece, so nothing was sent)."""
        assert self._client is not None
        target = self._client.get_partial_messageable(channel_id)
        pieces = split_text(reply.text, MAX_TEXT)
        reference = _reference(reply.reply_to, target.id)
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            view = self._view(reply.buttons) if last and reply.buttons else None
            extra: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
            if n == 0 and reference is not None:
                extra["reference"] = reference
            if view is not None:
                extra["view"] = view
            try:
                sent = await target.send(piece, **extra)
            except discord.NotFound as exc:
                if n == 0 and exc.code == UNKNOWN_CHANNEL:
                    raise _UnknownChannel from None
                raise ConnectorError(f"discord: {_describe(exc)}") from None
            except discord.DiscordException as exc:
                raise ConnectorError(f"discord: {_describe(exc)}") from None
            if view is not None:
                for approval_id in {b.approval_id for b in reply.buttons}:
                    self._sent_buttons.setdefault(approval_id, []).append((target.id, sent.id))
        while len(self._sent_buttons) > 10_000:
            self._sent_buttons.popitem(last=False)

    async def _open_dm(self, user_id: int) -> int:
        """The id of the DM channel with the user `user_id`, opened now and kept."""
        assert self._client is not None
        try:
            dm = await self._client.create_dm(discord.Object(id=user_id))
        except discord.DiscordException as exc:
            error = f"discord: cannot open a DM with {user_id}: {_describe(exc)}"
            raise ConnectorError(error) from None
        self._dms[user_id] = dm.id
        while len(self._dms) > MAX_DMS:
            self._dms.popitem(last=False)
        log.info("discord.dm_opened", user_id=str(user_id))
        return dm.id

    def _view(self, buttons: tuple[Button, ...]) -> discord.ui.View:
        """The buttons as components; stopped, so the library keeps no listener for it
        (presses arrive through `on_interaction`)."""
        view = discord.ui.View(timeout=None)
        for b in buttons:
            view.add_item(
                discord.ui.Button(
                    label=b.label, style=_STYLES[b.decision], custom_id=self._codec.encode(b)
                )
            )
        view.stop()
        return view

    async def retire(self, approval_id: str) -> None:
        if self._client is None:
            return
        for channel_id, message_id in self._sent_buttons.pop(approval_id, []):
            channel = self._client.get_partial_messageable(channel_id)
            with contextlib.suppress(discord.DiscordException):
                await channel.get_partial_message(message_id).edit(view=None)


class _UnknownChannel(Exception):
    """Discord knows no channel of that id (it may be a user's: open their DM)."""


def _reference(reply_to: str | None, channel_id: int) -> discord.MessageReference | None:
    """A reference to the message `reply_to` names (`discord:<id>` or a bare id)."""
    tail = (reply_to or "").rsplit(":", 1)[-1]
    if not tail.isdigit():
        return None
    return discord.MessageReference(
        message_id=int(tail), channel_id=channel_id, fail_if_not_exists=False
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
