"""One well-formed policy input, for the policy tests, the conformance corpus and the bench.

`policy_input()` is principal `alice` calling `file-read` with nothing requested; each
caller bends it with keyword arguments (skill fields) or by editing the copy it gets.
"""

from __future__ import annotations

import copy
from typing import Any

WORKSPACE = "/home/me/workspace"


def policy_input(
    roles: list[str] | None = None,
    permissions: list[str] | None = None,
    *,
    principal: str = "alice",
    workspace: str = WORKSPACE,
    **skill: Any,
) -> dict[str, Any]:
    """A fresh input; `skill` overrides fields of `input.skill`."""
    value: dict[str, Any] = {
        "principal": {
            "id": principal,
            "roles": ["user"] if roles is None else roles,
            "channel": "http",
        },
        "skill": {
            "name": "file-read",
            "version": "1.0.0",
            "digest": "sha256:" + "0" * 64,
            "publisher": "nexflow",
            "source": "builtin",
            "permissions": permissions or [],
            "runtime": "python",
            "tags": ["files"],
            "filesystem": [],
            "network": [],
            "limits": {},
        },
        "call": {"id": "c_1", "input_sha256": "0" * 64, "paths": []},
        "context": {
            "workspace": workspace,
            "time": "2026-11-21T10:00:00Z",
            "approved": False,
            "rate": {"minute": 0, "hour": 0},
            "skill_runs": 3,
        },
    }
    value["skill"].update(copy.deepcopy(skill))
    return value
