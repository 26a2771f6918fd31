"""The UI's pages: `/ui/...` serves one static page app; `/` sends a browser there.

Every response of the control plane carries headers that keep a hostile string in the
log (skill input is attacker-controlled) from turning into script: a
Content-Security-Policy allowing only this origin's own script and style files (no
inline script, no eval), no framing, no MIME sniffing, no referrer.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).with_name("static")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response (ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Mount the UI and its assets, and the security headers."""
    index = STATIC / "index.html"

    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=303)

    async def page(path: str = "") -> FileResponse:
        # Any /ui/ path is the same app; it routes on location.pathname.
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_api_route("/ui", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ui/{path:path}", page, methods=["GET"], include_in_schema=False)
    app.add_middleware(SecurityHeaders)
