"""A Discord for tests: the REST API (`/api/v10/...`) and the Gateway websocket (`/gateway`)
on one real socket, speaking https://discord.com/developers/docs as discord.py uses it.

Gateway: HELLO (op 10) on connect, IDENTIFY (op 2, token checked: 4004 closes a wrong
one) answered by READY then GUILD_CREATE for the one guild, heartbeats (op 1) acked
(op 11); `dispatch` sends any event (MESSAGE_CREATE, INTERACTION_CREATE) with a sequence.
REST: `users/@me`, `users/@me/channels` (open a DM: `{"recipient_id"}` → the DM
channel, id `1000 + user id`), `gateway/bot`, `channels/{id}/messages` (POST, PATCH),
`interactions/{id}/{token}/callback`; the `Authorization: Bot <token>` header is checked
and every request body is kept for the test. A message to a channel Discord does not know
(not the guild's, not a DM opened or written in) is 404 "Unknown Channel" (code 10003),
as Discord answers a message sent to a user's id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from .serve import Served

BOT_ID = 900_000_000_000_000_001
GUILD_ID = 910_000_000_000_000_001
CHANNEL_ID = 920_000_000_000_000_001
APP_ID = BOT_ID
BOT = {
    "id": str(BOT_ID),
    "username": "nexbot",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}


def user(user_id: int, name: str = "alice") -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
    }


def _json(body: object, status: int = 200) -> web.Response:
    """JSON as Discord sends it: discord.py parses a body only under exactly this type."""
    return web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeDiscord:
    def __init__(self, token: str) -> None:
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []
        self.dm_opens: list[dict[str, Any]] = []
        self.channels: set[str] = {str(CHANNEL_ID)}
        self.identify: dict[str, Any] | None = None
        self.heartbeats = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(930_000_000_000_000_001)
        self.ready = asyncio.Event()
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        api = "/api/v10"
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_post(f"{api}/users/@me/channels", self._open_dm)
        app.router.add_get(f"{api}/gateway/bot", self._gateway_bot)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_post(f"{api}/channels/{{channel}}/messages", self._create_message)
        app.router.add_patch(f"{api}/channels/{{channel}}/messages/{{message}}", self._edit)
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback)
        self._served = Served(app)
        self.api_base = f"{self._served.url}{api}"
        self.gateway_url = f"ws://127.0.0.1:{self._served.port}/gateway"

    async def start(self) -> FakeDiscord:
        await self._served.start()
        return self

    async def stop(self) -> None:
        for ws in self._sockets:
            await ws.close()
        await self._served.stop()

    def next_id(self) -> int:
        return next(self._ids)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send the Gateway event `event` to every identified socket."""
        for ws in self._sockets:
            await ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    def message(
        self,
        content: str,
        author: dict[str, Any],
        *,
        guild: bool = False,
        mentions: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE payload: in the guild's channel, or a DM with `author`."""
        data: dict[str, Any] = {
            "id": str(self.next_id()),
            "channel_id": str(CHANNEL_ID if guild else 1000 + int(author["id"])),
            "author": author,
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions or [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        self.channels.add(data["channel_id"])
        if guild:
            data["guild_id"] = str(GUILD_ID)
            data["member"] = {"roles": [], "joined_at": _now(), "deaf": False, "mute": False}
        return data

    def press(
        self, custom_id: str, presser: dict[str, Any], message: dict[str, Any]
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload: `presser` clicked the button `custom_id` (in a DM)."""
        return {
            "id": str(self.next_id()),
            "application_id": str(APP_ID),
            "type": 3,
            "data": {"custom_id": custom_id, "component_type": 2},
            "channel_id": message["channel_id"],
            "channel": {"id": message["channel_id"], "type": 1},
            "user": presser,
            "token": "interaction-token",
            "version": 1,
            "message": message,
            "locale": "en-US",
            "app_permissions": "0",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 1,
            "attachment_size_limit": 8_388_608,
        }

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(BOT)

    async def _application(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        app = {
            "id": str(APP_ID),
            "name": "Nexflow",
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": user(1, "owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "summary": "",
        }
        return _json(app)

    async def _open_dm(self, request: web.Request) -> web.Response:
        """Create DM: the (one, stable) DM channel between the bot and `recipient_id`."""
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        body = await request.json()
        self.dm_opens.append(body)
        recipient = str(body.get("recipient_id", ""))
        if not recipient.isdigit() or recipient in self.channels or recipient == str(BOT_ID):
            return _json({"message": "Unknown User", "code": 10013}, status=404)
        channel = str(1000 + int(recipient))
        self.channels.add(channel)
        dm = {
            "id": channel,
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user(int(recipient), f"user{recipient}")],
        }
        return _json(dm)

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        limits = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limits})

    async def _create_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        body = await request.json()
        content = body.get("content") or ""
        if len(content) > 2000:
            error = {
                "code": 50035,
                "message": "Invalid Form Body",
                "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}},
            }
            return _json(error, status=400)
        channel = request.match_info["channel"]
        if channel not in self.channels:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        message = {
            **self.message(content, BOT),
            "channel_id": channel,
            "components": body.get("components", []),
        }
        self.messages.append({"channel_id": channel, "body": body, "message": message})
        return _json(message)

    async def _edit(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.edits.append({**dict(request.match_info), "body": body})
        return _json(
            {
                **self.message("edited", BOT),
                **body,
                "id": request.match_info["message"],
                "channel_id": request.match_info["channel"],
            }
        )

    async def _callback(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.callbacks.append({**dict(request.match_info), "body": body})
        interaction = {"id": request.match_info["id"], "type": 3}
        return _json({"interaction": interaction})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            payload = msg.json()
            if payload["op"] == 1:
                self.heartbeats += 1
                await ws.send_json({"op": 11})
            elif payload["op"] == 2:
                if payload["d"].get("token") != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                self.identify = payload["d"]
                self._sockets.append(ws)
                await self._ready(ws)
        if ws in self._sockets:
            self._sockets.remove(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse) -> None:
        ready = {
            "v": 10,
            "user": BOT,
            "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
            "session_id": "session-1",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APP_ID), "flags": 0},
            "private_channels": [],
        }
        await ws.send_json({"op": 0, "t": "READY", "s": next(self._seq), "d": ready})
        everyone = {
            "id": str(GUILD_ID),
            "name": "@everyone",
            "permissions": "0",
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        text_channel = {
            "id": str(CHANNEL_ID),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": "ops",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        }
        guild = {
            "id": str(GUILD_ID),
            "name": "Ops",
            "icon": None,
            "owner_id": "1",
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": [text_channel],
            "members": [],
            "member_count": 2,
            "large": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "premium_tier": 0,
            "system_channel_flags": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "unavailable": False,
        }
        await ws.send_json({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": guild})
        self.ready.set()
