"""The control plane's one database (SQLite or PostgreSQL), shared by every area.

    Database            open (engine, setup, migrate to head) / engine / writing() /
                        write_turn / close; opened once by the app factory
    migrations          the schema's history (Alembic revisions shipped in the package),
                        upgrade / current / current_at / head
    UTCDateTime         the datetime column type every area uses
    canonical_json      the JSON text JSON columns store
    WRITE_TX            execution options of a connection that will write
    WRITE_LOCK_KEY      the PostgreSQL advisory lock `writing()` takes
    error_summary       a lower error's type and first words, no SQL, no parameters
    error_type          a lower error's type only

Each area owns its tables (`audit.models`, `accounts.models`, `approvals.models`, each
its own `MetaData`) and reads and writes only those; the database is handed to it, no
area is another's handle to it.
"""

from . import migrations
from ._database import Database, error_summary, error_type
from ._dialect import WRITE_LOCK_KEY, WRITE_TX
from ._types import UTCDateTime, canonical_json

__all__ = [
    "WRITE_LOCK_KEY",
    "WRITE_TX",
    "Database",
    "UTCDateTime",
    "canonical_json",
    "error_summary",
    "error_type",
    "migrations",
]
