"""Telegram through python-telegram-bot's `Bot` (the Bot API client; the dispatching
`Application` is not used: the gateway's router is the dispatcher).

Long polling (`getUpdates` with an offset, raw JSON, so one malformed update is dropped
alone instead of failing its batch) or a webhook (`webhook()`, a Starlette endpoint that
checks `X-Telegram-Bot-Api-Secret-Token` in constant time and refuses a replayed
`update_id`). Replies go out as MarkdownV2 with every reserved character escaped, so the
text shows exactly as written (the model's `*` or `_` never becomes formatting and never
makes Telegram refuse the message), split at 4096 UTF-16 code units on paragraph or line
boundaries; approval buttons ride on the last piece as an inline keyboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)
from telegram.error import Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from ..settings import TelegramSettings
from .base import Button, Connector, ConnectorError, Event, Press, Reply
from .buttons import ButtonCodec
from .chunks import split_text, utf16_len
from .drops import Drops
from .inbox import Inbox
from .telegram_updates import BotIdentity, Drop, parse_update

log = structlog.get_logger("nexflow_gateway.connectors.telegram")

MAX_TEXT = 4096  # UTF-16 code units after entity parsing
MAX_CALLBACK_DATA = 64  # bytes
MAX_WEBHOOK_BODY = 1024 * 1024
ALLOWED_UPDATES = ["message", "callback_query"]
_RESERVED = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


def escape_markdown_v2(text: str) -> str:
    """`text` as MarkdownV2 that renders exactly as `text` (every reserved char escaped)."""
    return _RESERVED.sub(r"\\\1", text)


class _Seen:
    """The last `size` update ids taken: a webhook delivery seen before is a replay."""

    def __init__(self, size: int = 4096) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._size = size

    def __contains__(self, update_id: int) -> bool:
        return update_id in self._ids

    def add(self, update_id: int) -> None:
        self._ids[update_id] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


class TelegramConnector(Connector):
    """One Telegram bot; `settings.token` must be set."""

    channel = "telegram"

    def __init__(self, settings: TelegramSettings) -> None:
        if settings.token is None:
            raise ConnectorError("telegram: no token configured")
        self._settings = settings
        self.mode = settings.mode
        api = settings.api_base.rstrip("/")
        self._bot = Bot(
            settings.token.get_secret_value(),
            base_url=f"{api}/bot",
            base_file_url=f"{api}/file/bot",
            request=HTTPXRequest(read_timeout=10.0),
        )
        self._codec = ButtonCodec(MAX_CALLBACK_DATA)
        self._inbox = Inbox()
        self._seen = _Seen()
        self._sent_buttons: OrderedDict[str, list[tuple[str, int]]] = OrderedDict()
        self._me: BotIdentity | None = None
        self._poller: asyncio.Task[None] | None = None
        self.drops = Drops("telegram")

    async def start(self) -> None:
        s = self._settings
        try:
            async with asyncio.timeout(s.start_timeout_s):
                await self._bot.initialize()  # getMe
                me = self._bot.bot
                self._me = BotIdentity(me.id, me.username or "")
                if s.mode == "webhook":
                    assert s.webhook_url and s.webhook_secret  # the settings validator's
                    await self._bot.set_webhook(
                        s.webhook_url,
                        secret_token=s.webhook_secret.get_secret_value(),
                        allowed_updates=ALLOWED_UPDATES,
                    )
                else:
                    await self._bot.delete_webhook()
        except (TelegramError, TimeoutError) as exc:
            with contextlib.suppress(TelegramError):
                await self._bot.shutdown()  # its HTTP clients, opened before getMe failed
            raise ConnectorError(f"telegram: could not start: {self._describe(exc)}") from None
        if s.mode == "polling":
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
        log.info("connector.started", channel="telegram", mode=s.mode, bot=self._me.username)

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self._inbox.close()
        with contextlib.suppress(TelegramError):
            await self._bot.shutdown()

    def events(self) -> AsyncIterator[Event | Press]:
        return aiter(self._inbox)

    async def _poll(self) -> None:
        offset = 0
        backoff = 1.0
        timeout = self._settings.poll_timeout_s
        while True:
            try:
                # Raw JSON, so one malformed update is dropped alone. The Bot API's method
                # names are case-insensitive; the library warns on its own spelling.
                batch = await self._bot.do_api_request(
                    "getupdates",
                    {"offset": offset, "timeout": timeout, "allowed_updates": ALLOWED_UPDATES},
                    read_timeout=timeout + 10.0,
                )
                backoff = 1.0
            except (InvalidToken, Forbidden) as exc:
                log.error("connector.stopped", channel="telegram", error=self._describe(exc))
                return
            except TelegramError as exc:
                wait = _retry_after_s(exc) if isinstance(exc, RetryAfter) else backoff
                log.warning("telegram.poll_failed", error=self._describe(exc), retry_in_s=wait)
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, 60.0)
                continue
            for raw in batch if isinstance(batch, list) else []:
                update_id = raw.get("update_id") if isinstance(raw, dict) else None
                if isinstance(update_id, int):
                    offset = max(offset, update_id + 1)
                await self._take(raw)

    async def _take(self, raw: object) -> None:
        """Parse one update, answer a button's callback query, queue what is ours."""
        assert self._me is not None
        try:
            item, query = parse_update(raw, self._me, self._codec)
        except Exception as exc:  # a shape no parser foresaw: dropped, never the poller
            log.warning("telegram.update_failed", error=type(exc).__name__)
            item, query = Drop("malformed"), None
        if query is not None:
            await self._answer(query, ok=not isinstance(item, Drop))
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if isinstance(item, Drop):
            self.drops.drop(item.reason, update_id)
        else:
            await self._inbox.put(item)

    async def _answer(self, query: CallbackQuery, *, ok: bool) -> None:
        text = "Received." if ok else "This button is no longer valid."
        try:
            await self._bot.answer_callback_query(query.id, text=text)
        except TelegramError as exc:  # the press still counts; only the spinner stays
            log.warning("telegram.answer_failed", error=self._describe(exc))

    async def webhook(self, request: Request) -> Response:
        """Telegram's POST of one update: 401 without the right secret header."""
        secret = self._settings.webhook_secret
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if secret is None or not hmac.compare_digest(
            given.encode(), secret.get_secret_value().encode()
        ):
            self.drops.drop("webhook_refused")
            return _error(401, "unauthenticated", "refused")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > MAX_WEBHOOK_BODY:
                self.drops.drop("too_large")
                return _error(413, "payload_too_large", "update too large")
        try:
            raw = json.loads(body)
        except ValueError:
            self.drops.drop("malformed")
            return _error(400, "bad_request", "body is not JSON")
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if isinstance(update_id, int) and update_id in self._seen:
            self.drops.drop("replay", update_id)
            return Response(status_code=200)
        if self._inbox.full():  # Telegram delivers it again later
            return _error(503, "busy", "try again")
        if isinstance(update_id, int):
            self._seen.add(update_id)
        await self._take(raw)
        return Response(status_code=200)

    async def send(self, reply: Reply) -> None:
        pieces = split_text(reply.text, MAX_TEXT, utf16_len)
        markup = _keyboard(reply.buttons, self._codec) if reply.buttons else None
        reply_to = _message_id(reply.reply_to)
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            sent = await self._call(
                self._bot.send_message,
                chat_id=reply.chat_id,
                text=escape_markdown_v2(piece),
                parse_mode="MarkdownV2",
                reply_markup=markup if last else None,
                reply_parameters=(
                    ReplyParameters(reply_to, allow_sending_without_reply=True)
                    if reply_to is not None and n == 0
                    else None
                ),
            )
            if last and reply.buttons:
                self._remember(reply.buttons, reply.chat_id, sent.message_id)

    async def retire(self, approval_id: str) -> None:
        for chat_id, message_id in self._sent_buttons.pop(approval_id, []):
            with contextlib.suppress(ConnectorError):
                await self._call(
                    self._bot.edit_message_reply_markup,
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=None,
                )

    def _remember(self, buttons: tuple[Button, ...], chat_id: str, message_id: int) -> None:
        for approval_id in {b.approval_id for b in buttons}:
            self._sent_buttons.setdefault(approval_id, []).append((chat_id, message_id))
        while len(self._sent_buttons) > 10_000:
            self._sent_buttons.popitem(last=False)

    def _describe(self, exc: BaseException) -> str:
        """The error's type and text, the token cut out (the library quotes it)."""
        token = self._bot.token
        text = str(exc).replace(token, "<token>") if str(exc) else ""
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    async def _call(self, method: Any, **kwargs: Any) -> Any:
        """One Bot API call, waiting out one flood-control answer; errors mapped."""
        for attempt in (1, 2):
            try:
                return await method(**kwargs)
            except RetryAfter as exc:
                if attempt == 2:
                    raise ConnectorError(f"telegram: {self._describe(exc)}") from None
                await asyncio.sleep(min(_retry_after_s(exc), 30.0))
            except TelegramError as exc:
                raise ConnectorError(f"telegram: {self._describe(exc)}") from None
        raise AssertionError("unreachable")


def _keyboard(buttons: tuple[Button, ...], codec: ButtonCodec) -> InlineKeyboardMarkup:
    """One row per approval: its buttons side by side."""
    rows: dict[str, list[InlineKeyboardButton]] = {}
    for b in buttons:
        key = InlineKeyboardButton(b.label, callback_data=codec.encode(b))
        rows.setdefault(b.approval_id, []).append(key)
    return InlineKeyboardMarkup(list(rows.values()))


def _message_id(reply_to: str | None) -> int | None:
    """The Telegram message id in `reply_to` (an Event id `telegram:<chat>:<msg>` or bare)."""
    tail = (reply_to or "").rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _retry_after_s(exc: RetryAfter) -> float:
    # the stored timedelta: the public `retry_after` warns (int periods are deprecated)
    return float(exc._retry_after.total_seconds())


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)
