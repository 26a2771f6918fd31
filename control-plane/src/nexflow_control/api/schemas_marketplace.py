"""The typed edge of `/api/v1/marketplace` (installing skills from a registry)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ..marketplace import LockedSkill, SkillRequest


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstallIn(_Body):
    spec: StrictStr = Field(max_length=200, examples=["echo@1.0.0"])
    """`NAME`, `NAME@VERSION` or `NAME@sha256:DIGEST`"""
    registry: StrictStr | None = Field(default=None, max_length=2000)
    """the registry's base URL; default: the lockfile's, then `marketplace.registry_url`"""
    min_age_hours: float | None = Field(default=None, ge=0, le=87_600)
    """cooldown for this install; default: the `marketplace.min_age_hours` setting"""


MAX_ARCHIVE_BYTES = 16 * 1024 * 1024


class ArchiveIn(_Body):
    archive: StrictStr = Field(max_length=(MAX_ARCHIVE_BYTES * 4) // 3 + 4)
    """base64 of a ClawHub-format skill archive (zip, or .tar.gz), at most 16 MiB"""
    source: StrictStr = Field(default="archive", max_length=500)
    """what it was made from (a folder or file name), for messages and the audit log"""


class UpdateIn(_Body):
    name: StrictStr | None = Field(default=None, max_length=64)
    """one installed skill; default: every one"""
    min_age_hours: float | None = Field(default=None, ge=0, le=87_600)


class TrustIn(_Body):
    publisher: StrictStr = Field(max_length=64)
    public_key: StrictStr = Field(max_length=100)
    """base64 of the raw ed25519 public key"""
    registry: StrictStr | None = Field(default=None, max_length=2000)


class RevokeIn(_Body):
    publisher: StrictStr = Field(max_length=64)
    key: StrictStr = Field(max_length=100)
    """the key id (or an 8+ character prefix of it) or the base64 public key"""
    registry: StrictStr | None = Field(default=None, max_length=2000)


class InstalledOut(BaseModel):
    skill: LockedSkill
    changed: bool
    """false when this exact release was already installed"""
    first_use: list[str]
    """what was pinned on first use (tell the user)"""
    consent_required: list[str]
    """the update's added requests (`+ host api.example.com`); it does not run until approved"""


class UpdateResult(BaseModel):
    name: str
    installed: InstalledOut | None = None
    error: str | None = None
    message: str | None = None


class UpdateOut(BaseModel):
    results: list[UpdateResult]


class InstalledList(BaseModel):
    skills: list[LockedSkill]


class ConsentOut(BaseModel):
    name: str
    version: str
    pending: bool
    diff: list[str]
    """`+ host …`, `+ secret …`, … what the installed version asks beyond the approval"""
    added: SkillRequest


class KeyOut(BaseModel):
    registry: str | None = None
    publisher: str
    key_id: str
    public_key: str
    status: str
    how: str
    """`first_use` or `explicit`"""
    at: str


class KeyList(BaseModel):
    keys: list[KeyOut]


class RevokedOut(BaseModel):
    publisher: str
    key_id: str
