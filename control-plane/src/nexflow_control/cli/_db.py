"""`nexflow db upgrade|current`: the database schema (Alembic revisions shipped in the package)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from ..db import Database, migrations
from ..settings import Settings
from ._client import DEFAULT_HOME, fail

app = typer.Typer(help="Create or upgrade the database schema.", no_args_is_help=True)

Home = Annotated[Path, typer.Option("--home", envvar="NEXFLOW_HOME")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="NEXFLOW_DATABASE_URL", help="SQLAlchemy async URL"),
]


def _url(home: Path, database_url: str | None) -> str:
    return database_url or Settings(home=home).resolved_database_url


@app.command("upgrade")
def upgrade_cmd(home: Home = DEFAULT_HOME, database_url: DatabaseUrl = None) -> None:
    """Migrate the database to the newest revision (what `nexflow up` does at start)."""
    url = _url(home, database_url)

    async def run() -> None:
        db = await Database.open(url)  # migrates under the write lock
        await db.close()

    try:
        asyncio.run(run())
    except Exception as exc:  # a CLI never shows a traceback
        fail(f"cannot upgrade the database at {url}: {exc}")
    typer.echo(f"database at revision {migrations.head()} (head)")


@app.command("current")
def current_cmd(home: Home = DEFAULT_HOME, database_url: DatabaseUrl = None) -> None:
    """Print the database's revision and the newest one; exit 1 when it is behind."""
    from alembic.util.exc import CommandError

    url = _url(home, database_url)
    try:
        revision = asyncio.run(migrations.current_at(url))
    except (OSError, SQLAlchemyError, CommandError) as exc:
        fail(f"cannot read the database at {url}: {exc}")
    head = migrations.head()
    typer.echo(f"current: {revision or 'none'}\nhead: {head}")
    raise typer.Exit(0 if revision == head else 1)
