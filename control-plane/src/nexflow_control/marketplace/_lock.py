"""`skills.lock` in the home: what was installed from a registry, and how it proved itself.

JSON, one object per skill name::

    {"version": 1, "skills": {"echo": {"version", "digest" (the archive's sha256),
     "files_digest" (the skill folder's digest, as the catalog computes it), "publisher",
     "key_id", "registry", "installed_at", "checkpoint_size", "path" (under the home),
     "granted" (the permission request a human approved), "consent_diff" (what an update
     asks for beyond it; empty when none is pending), "scan_verdict" (clean or warn: the
     install-time scan of the unpacked release), "scan_findings"}}}

Written whole (temporary file, then rename); a lockfile that cannot be read is an error,
never silently an empty one (that would drop every skill's verification).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from ..errors import NexflowError
from ._request import SkillRequest

FILE_NAME = "skills.lock"


class LockedSkill(BaseModel):
    name: str
    version: str
    digest: str
    files_digest: str
    publisher: str
    key_id: str
    registry: str
    installed_at: str
    checkpoint_size: int
    path: str
    """the skill folder, relative to the home"""
    granted: SkillRequest
    consent_diff: SkillRequest = Field(default_factory=SkillRequest)
    verified: bool = True
    """False for a skill installed from a local folder or archive (unsigned: `registry` is
    `local`, `key_id` empty, `publisher` the SKILL.md's claim)"""
    scan_verdict: Literal["clean", "warn"] | None = None
    """the install-time scan's verdict (a `block` is never placed); None: installed before
    scanning existed"""
    scan_findings: list[str] = Field(default_factory=list)
    """`file:line rule: message` of each finding (at most 50)"""

    @property
    def consent_pending(self) -> bool:
        return not self.consent_diff.empty


class Lockfile(BaseModel):
    version: int = 1
    skills: dict[str, LockedSkill] = Field(default_factory=dict)


class LockfileBroken(NexflowError):
    status, code = 500, "lockfile_unreadable"


def read(home: Path) -> Lockfile:
    path = home / FILE_NAME
    try:
        return Lockfile.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return Lockfile()
    except (OSError, ValidationError, ValueError) as exc:
        raise LockfileBroken(f"{FILE_NAME} cannot be read: {str(exc)[:200]}") from exc


def write(home: Path, lock: Lockfile) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".skills-lock-", dir=home)
    with os.fdopen(fd, "w") as out:
        json.dump(lock.model_dump(mode="json"), out, indent=2, sort_keys=True)
        out.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, home / FILE_NAME)
