"""A Telegram Bot API server for tests: `/bot<token>/<method>` over real HTTP, answering
as https://core.telegram.org/bots/api documents (`{"ok": true, "result": ...}`, or
`{"ok": false, "error_code", "description"}`).

It keeps an update queue (`push`) served by `getUpdates` with `offset` and `timeout` long
polling, or delivered to the registered webhook (`deliver`) with the secret header. It
checks what Telegram checks on the way in: the token, MarkdownV2 (a reserved character
left unescaped is refused, as Telegram refuses it), the 4096-character limit after
entity parsing, and `callback_data` of 1-64 bytes. Everything sent is kept for the test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from typing import Any

import aiohttp
from aiohttp import web

from .serve import Served

BOT = {"id": 7001, "is_bot": True, "first_name": "Nexflow", "username": "nexbot"}
_RESERVED = set("_*[]()~`>#+-=|{}.!")


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.answered: list[dict[str, Any]] = []
        self.edited: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.calls: list[str] = []
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(500)
        self._arrived = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._served = Served(app)
        self._methods = {
            name[1:].lower(): getattr(self, name)
            for name in dir(self)
            if name[:2] != "__"
            and name[1:2].islower()
            and callable(getattr(self, name))
            and name[0] == "_"
            and name[1:] not in ("handle",)
        }
        self.url = self._served.url

    async def start(self) -> FakeTelegram:
        await self._served.start()
        return self

    async def stop(self) -> None:
        await self._served.stop()

    async def push(self, update: dict[str, Any]) -> int:
        """Queue `update` (its `update_id` assigned here) for getUpdates."""
        update_id = next(self._ids)
        async with self._arrived:
            self.updates.append({"update_id": update_id, **update})
            self._arrived.notify_all()
        return update_id

    async def deliver(
        self, update: dict[str, Any], secret: str | None = "", url: str | None = None
    ) -> int:
        """POST `update` to the registered webhook as Telegram does; the HTTP status.
        `secret`: the header to send ("" = the registered one, None = no header); `url`:
        where the registered public address leads (a proxy's target), if not there."""
        assert self.webhook is not None, "no webhook registered"
        headers = {}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret or self.webhook["secret_token"]
        async with (
            aiohttp.ClientSession() as session,
            session.post(url or self.webhook["url"], json=update, headers=headers) as resp,
        ):
            return resp.status

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"].lower()  # the Bot API is case-insensitive
        self.calls.append(method)
        params = await _params(request)
        handler = self._methods.get(method)
        if handler is None:
            return _fail(ApiError(404, "Not Found"))
        try:
            result = await handler(params)
        except ApiError as exc:
            return _fail(exc)
        return web.json_response({"ok": True, "result": result})

    async def _getMe(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {**BOT, "can_join_groups": True, "can_read_all_group_messages": False}

    async def _getUpdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(p.get("offset", 0))
        timeout = float(p.get("timeout", 0))
        deadline = time.monotonic() + timeout
        async with self._arrived:
            if offset:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                left = deadline - time.monotonic()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
            return list(self.updates)

    async def _setWebhook(self, p: dict[str, Any]) -> bool:
        secret = p.get("secret_token", "")
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": p["url"], "secret_token": secret, **p}
        return True

    async def _deleteWebhook(self, _p: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        text = str(p.get("text", ""))
        if p.get("parse_mode") == "MarkdownV2":
            text = _parse_markdown_v2(text)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        markup = p.get("reply_markup")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data", "")
                if not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": int(p["chat_id"]), "type": "private"},
            "from": BOT,
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        self.sent.append({**p, "parsed_text": text, "message": message})
        return message

    async def _answerCallbackQuery(self, p: dict[str, Any]) -> bool:
        self.answered.append(p)
        return True

    async def _editMessageReplyMarkup(self, p: dict[str, Any]) -> bool:
        self.edited.append(p)
        return True


def _parse_markdown_v2(text: str) -> str:
    """The text MarkdownV2 `text` shows, for text without formatting entities: refused
    (as Telegram refuses it) when a reserved character is not escaped."""
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            if not nxt:
                raise ApiError(400, "Bad Request: can't parse entities: unexpected end")
            out.append(nxt)
        elif ch in _RESERVED:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Character '{ch}' is reserved and must "
                "be escaped with the preceding '\\'",
            )
        else:
            out.append(ch)
    return "".join(out)


async def _params(request: web.Request) -> dict[str, Any]:
    """A method's parameters from a query string, JSON or form body (nested values are
    JSON-serialized in a form, as the Bot API accepts them)."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.can_read_body:
        params.update(await request.post())
    for key in ("reply_markup", "allowed_updates", "reply_parameters"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


def _fail(exc: ApiError) -> web.Response:
    body = {"ok": False, "error_code": exc.code, "description": exc.description}
    return web.json_response(body, status=exc.code)
