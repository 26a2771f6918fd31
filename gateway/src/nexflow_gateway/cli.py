"""`nexflow-gateway serve`: the web chat API on a real socket."""

from __future__ import annotations

import logging

import typer
import uvicorn

from . import logs
from .settings import Settings

app = typer.Typer(add_completion=False, help="Nexflow gateway (preview): the web chat API.")


@app.callback()
def _root() -> None:
    """Nexflow gateway."""


@app.command()
def serve(
    host: str | None = typer.Option(None, help="bind address (NEXFLOW_GATEWAY__HOST)"),
    port: int | None = typer.Option(None, help="port (NEXFLOW_GATEWAY__PORT)"),
) -> None:
    """Serve the web chat API until interrupted."""
    from .web import create_app  # imports litellm, which installs its own log handlers

    settings = Settings()
    logs.configure(settings.secrets(), logging.getLevelName(settings.gateway.log_level))

    uvicorn.run(
        create_app(settings),
        host=host or settings.gateway.host,
        port=port if port is not None else settings.gateway.port,
        log_config=None,
        access_log=True,
    )


def main() -> None:
    app()
