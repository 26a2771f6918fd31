"""The schedules tables. History: `db/migrations/versions/` (0007_schedules).

`schedules.next_run` is the one due time a control plane may claim: the claim is an
UPDATE guarded by `next_run = :due`, so of several control planes on one database
exactly one moves it on. `schedule_runs` keeps one row per claimed due time (its
primary key says again that a due time is claimed once).
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, MetaData, String, Table, Text

from ..db import UTCDateTime

metadata = MetaData()

schedules = Table(
    "schedules",
    metadata,
    Column("id", String(32), primary_key=True),  # s_<16 hex>
    Column("owner", JSON(), nullable=False),  # {id, roles, channel, user_id, token_id}
    Column("skill", String(64), nullable=False),
    Column("input", Text(), nullable=False),  # the validated input, JSON text
    Column("cron", String(128)),  # five fields; NULL for a one-shot
    Column("run_at", UTCDateTime()),  # a one-shot's time; NULL for cron
    Column("timezone", String(64), nullable=False),  # IANA name
    Column("destination", String(160), nullable=False),  # web | telegram:<chat> | discord:<ch>
    Column("status", String(16), nullable=False),  # active | paused | done
    Column("next_run", UTCDateTime()),  # NULL once done
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_due", UTCDateTime()),
    Column("last_call_id", String(32)),
    Column("last_outcome", String(32)),  # running | pending_approval | <error code> | missed
    Index("ix_schedules_due", "status", "next_run"),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("schedule_id", String(32), primary_key=True),
    Column("due_at", UTCDateTime(), primary_key=True),
    Column("claimed_at", UTCDateTime(), nullable=False),
    Column("claimed_by", String(128), nullable=False),  # which control plane
    Column("outcome", String(32), nullable=False),  # fired | missed
)
