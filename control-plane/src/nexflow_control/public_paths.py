"""No host path in what a caller is told: the last line of defence at the HTTP boundary.

Refusals are written to name what the caller gave (policy reasons quote the path as
typed, not where it resolves). Messages that come from further down — the executor's
rejections, gRPC's connection errors naming the socket, the audit verifier's key-file
warnings, skill-load problems — may still hold host paths, so `HideHostPaths` rewrites
every JSON or text answer and every WebSocket text message on its way out:

    the workspace (as configured and resolved)   → /workspace (the name the sandbox and
                                                   skill inputs use)
    the executor socket                         → <executor socket>
    the Nexflow home                            → <home>   (<home>/keys/audit-checkpoint.key)
    checkpoint key / file outside the home      → <checkpoint key>, <checkpoint public key>,
                                                   <checkpoint file>
    skill folders, the policy folder, the repo  → <skills>, <builtin skills>, <policies>,
                                                   <nexflow>

Longest prefix first, and only at a path boundary (`/homework` is not under `/home`).
The audit log's own record views (`GET /api/v1/audit`, its export and the `/ws/logs`
tail) pass through untouched: they are the operator's evidence, hash-chained and
verifiable as exported, and keep the host paths of what was really granted and mounted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import REPO_ROOT, Settings

# Answers that carry messages; static files (HTML, CSS, scripts) hold no host paths.
_TEXT_TYPES = (b"application/json", b"text/plain", b"text/csv", b"application/x-ndjson")
_EVIDENCE = ("/api/v1/audit", "/api/v1/audit/export", "/ws/logs")
_NAME_CHAR = rb"[\w.\-]"


class HostPathMask:
    """Rewrites known host path prefixes to the names a caller may see."""

    def __init__(self, names: Iterable[tuple[Path, str]]) -> None:
        table: dict[str, str] = {}
        for path, name in names:
            for form in {str(path), str(path.resolve())}:
                if form != "/" and form not in table:
                    table[form] = name
        self._names = {k.encode(): v.encode() for k, v in table.items()}
        for host, name in table.items():  # as a JSON string holds it, too
            self._names.setdefault(
                json.dumps(host, ensure_ascii=False)[1:-1].encode(), name.encode()
            )
        alternatives = b"|".join(re.escape(k) for k in sorted(self._names, key=len, reverse=True))
        self._pattern = re.compile(b"(?:" + alternatives + b")(?!" + _NAME_CHAR + b")")

    @classmethod
    def from_settings(cls, settings: Settings) -> HostPathMask:
        names: list[tuple[Path, str]] = [
            (settings.resolved_workspace, "/workspace"),
            (settings.workspace or settings.home / "workspace", "/workspace"),
            (settings.resolved_executor_socket, "<executor socket>"),
            (settings.checkpoint_key_file, "<checkpoint key>"),
            (settings.checkpoint_public_key_file, "<checkpoint public key>"),
            (settings.checkpoint_file, "<checkpoint file>"),
            (settings.home, "<home>"),
            *((d, "<skills>") for d in settings.skills_dirs),
            (settings.builtin_skills_dir, "<builtin skills>"),
            (settings.policy_dir, "<policies>"),
            (REPO_ROOT, "<nexflow>"),
        ]
        home = settings.home.resolve()
        # Files inside the home read better as <home>/...; only outside ones get a name.
        return cls(
            (p, n)
            for p, n in names
            if n == "/workspace" or n == "<home>" or not p.resolve().is_relative_to(home)
        )

    def bytes(self, data: bytes) -> bytes:
        return self._pattern.sub(lambda m: self._names[m.group(0)], data)

    def text(self, data: str) -> str:
        return self.bytes(data.encode()).decode()


class HideHostPaths:
    """ASGI middleware applying a `HostPathMask` to every answer but the audit record views."""

    def __init__(self, app: ASGIApp, mask: HostPathMask) -> None:
        self.app, self.mask = app, mask

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in _EVIDENCE:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.app(scope, receive, self._websocket(send))
        else:
            await self.app(scope, receive, self._http(send))

    def _websocket(self, send: Send) -> Send:
        async def masked(message: Message) -> None:
            if message["type"] == "websocket.send" and message.get("text"):
                message = {**message, "text": self.mask.text(message["text"])}
            elif message["type"] == "websocket.close" and message.get("reason"):
                message = {**message, "reason": self.mask.text(message["reason"])}
            await send(message)

        return masked

    def _http(self, send: Send) -> Send:
        held: Message | None = None
        textual = False

        async def masked(message: Message) -> None:
            nonlocal held, textual
            if message["type"] == "http.response.start":
                ctype = dict(message.get("headers", [])).get(b"content-type", b"")
                textual = ctype.startswith(_TEXT_TYPES)
                if not textual:
                    await send(message)
                else:
                    held = message  # its Content-Length waits for the rewritten body
                return
            if message["type"] == "http.response.body" and textual:
                body = self.mask.bytes(message.get("body", b""))
                if held is not None:
                    more = message.get("more_body", False)
                    headers = [(k, v) for k, v in held.get("headers", []) if k != b"content-length"]
                    if not more:
                        headers.append((b"content-length", str(len(body)).encode()))
                    await send({**held, "headers": headers})
                    held = None
                message = {**message, "body": body}
            await send(message)

        return masked
