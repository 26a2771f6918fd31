"""`nexflow-gateway serve`: the web chat API on a real socket, and the configured chat
connectors (Telegram, Discord) beside it in the same event loop, their messages and
button presses handled by the router (`channels.chat_channels`)."""

from __future__ import annotations

import asyncio
import logging

import typer
import uvicorn
from nexflow_common.parent import die_with_parent
from pydantic import ValidationError

from . import logs
from .connectors import ConnectorSet
from .settings import Settings

app = typer.Typer(add_completion=False, help="Nexflow gateway (preview): the web chat API.")


@app.callback()
def _root() -> None:
    """Nexflow gateway."""


def _settings() -> Settings:
    """The settings from the environment, or a clear message and exit code 2."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "NEXFLOW_" + "__".join(str(p).upper() for p in first["loc"])
        typer.echo(f"error: {where}: {first['msg']}", err=True)
        raise typer.Exit(2) from None
    if settings.gateway.token is None or not settings.gateway.token.get_secret_value():
        typer.echo("error: NEXFLOW_GATEWAY__TOKEN is required (a control-plane token)", err=True)
        raise typer.Exit(2)
    return settings


def _check_database(settings: Settings) -> None:
    """The chat tables are there, or a clear message and exit code 2 (not a traceback
    from the server's start-up)."""
    from .errors import StoreUnavailable
    from .store import open_engine

    async def check() -> None:
        await (await open_engine(settings.resolved_database_url())).dispose()

    try:
        asyncio.run(check())
    except StoreUnavailable as exc:
        typer.echo(f"error: NEXFLOW_DATABASE_URL: {exc.message}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: str | None = typer.Option(None, help="bind address (NEXFLOW_GATEWAY__HOST)"),
    port: int | None = typer.Option(None, help="port (NEXFLOW_GATEWAY__PORT)"),
) -> None:
    """Serve the web chat API until interrupted."""
    settings = _settings()
    _check_database(settings)
    from .web import create_app  # imports litellm, which installs its own log handlers

    connectors = ConnectorSet.from_settings(settings)  # imports their libraries, first
    logs.configure(settings.secrets(), logging.getLevelName(settings.gateway.log_level))
    app = create_app(settings, connectors)
    for route in connectors.webhook_routes():
        app.router.routes.append(route)
    config = uvicorn.Config(
        app,
        host=host or settings.gateway.host,
        port=port if port is not None else settings.gateway.port,
        log_config=None,
        access_log=True,
    )
    uvicorn.Server(config).run()


def main() -> None:
    die_with_parent()  # when `nexflow up` started us
    app()
