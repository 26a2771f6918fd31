"""The typed edge of running a call without waiting for it, and of cancelling one."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from .schemas import Answer


class StartedCallOut(Answer):
    """A call started with `"wait": false`: follow it at `GET /api/v1/calls/{call_id}`
    or on the live tail (`/ws/logs`, its `call.finished`)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"call_id": "c_0196a1b2c3d4e5f6a7b8c9", "skill": "echo", "status": "running"}
            ]
        },
    )
    call_id: str
    skill: str
    status: Literal["running"]


class CancelOut(Answer):
    """The call's status after a cancel: how it ended, or `cancelling` (202)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "call_id": "c_0196a1b2c3d4e5f6a7b8c9",
                    "status": "killed",
                    "kill_reason": "cancelled",
                }
            ]
        },
    )
    call_id: str
    status: str
    kill_reason: str | None
