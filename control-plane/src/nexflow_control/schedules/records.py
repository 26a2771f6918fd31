"""One schedule as a record, its public view, and the shape of a result destination."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..auth import Principal
from ..errors import InvalidInput
from ._timing import When

DESTINATION = re.compile(r"^(web|telegram:-?[0-9]{1,20}|discord:[0-9]{1,20})$")
"""Where a run's result goes: `web` (the calls view) now; the gateway's chat forms are
stored and checked, and delivered once the gateway reads them."""


class Status(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DONE = "done"


def new_schedule_id() -> str:
    return f"s_{secrets.token_hex(8)}"


def check_destination(value: str) -> str:
    if not DESTINATION.match(value):
        raise InvalidInput(
            f"{value[:80]!r} is not a destination (web, telegram:<chat id>, discord:<channel id>)",
            code="invalid_destination",
            field="destination",
        )
    return value


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    owner: dict[str, Any]
    skill: str
    input: str
    when: When
    destination: str
    status: Status
    next_run: datetime | None
    created_at: datetime
    updated_at: datetime
    last_due: datetime | None = None
    last_call_id: str | None = None
    last_outcome: str | None = None

    @property
    def owner_id(self) -> str:
        return str(self.owner["id"])

    def owner_principal(self) -> Principal:
        """The creator as they were when they created it (roles are refreshed at each run)."""
        o = self.owner
        return Principal(
            str(o["id"]),
            tuple(o.get("roles", ())),
            channel="schedule",
            user_id=o.get("user_id"),
            token_id=o.get("token_id"),
            deliver_to=None if self.destination == "web" else self.destination,
        )

    def to_dict(self) -> dict[str, Any]:
        def ts(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "owner": self.owner_id,
            "skill": self.skill,
            "input": json.loads(self.input),
            "cron": self.when.cron,
            "at": ts(self.when.at),
            "timezone": self.when.timezone,
            "destination": self.destination,
            "status": str(self.status),
            "next_run": ts(self.next_run),
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at),
            "last_due": ts(self.last_due),
            "last_call_id": self.last_call_id,
            "last_outcome": self.last_outcome,
        }


def from_row(row: Any) -> Schedule:
    return Schedule(
        id=row.id,
        owner=dict(row.owner),
        skill=row.skill,
        input=row.input,
        when=When(row.cron, row.run_at, row.timezone),
        destination=row.destination,
        status=Status(row.status),
        next_run=row.next_run,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_due=row.last_due,
        last_call_id=row.last_call_id,
        last_outcome=row.last_outcome,
    )
