"""ClawHub's request and response bodies (as `clawhub` 0.23.x sends and validates them;
field names are ClawHub's camelCase)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class UploadUrlIn(BaseModel):
    path: str = Field(min_length=1, max_length=1000)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    contentType: str | None = None


class UploadUrlOut(BaseModel):
    uploadUrl: str
    uploadTicket: str


class StorageOut(BaseModel):
    storageId: str


class PublishFile(BaseModel):
    path: str
    size: int
    storageId: str
    sha256: str
    contentType: str | None = None
    uploadTicket: str | None = None


class ClawPublishIn(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    displayName: str | None = None
    ownerHandle: str | None = None
    version: str
    changelog: str = ""
    tags: list[str] = []
    files: list[PublishFile] = Field(min_length=1, max_length=1000)


class ClawPublishOut(BaseModel):
    ok: bool = True
    skillId: str
    versionId: str
    slug: str
    version: str
    status: str
    publicationStatus: str
    """`pending` while a lookalike name waits for an admin"""


class VersionInfo(BaseModel):
    version: str
    createdAt: int
    changelog: str


class Owner(BaseModel):
    handle: str | None


class SkillCard(BaseModel):
    slug: str
    displayName: str
    summary: str | None
    tags: dict[str, str]
    stats: dict[str, Any]
    createdAt: int
    updatedAt: int


class ListItem(SkillCard):
    latestVersion: VersionInfo | None


class Moderation(BaseModel):
    isSuspicious: bool
    isMalwareBlocked: bool
    verdict: str
    reasonCodes: list[str]
    summary: str | None = None
    evidence: list[dict[str, Any]] = []


class SkillOut(BaseModel):
    skill: SkillCard | None
    latestVersion: VersionInfo | None
    owner: Owner | None
    moderation: Moderation | None


class SearchResult(BaseModel):
    slug: str
    displayName: str
    summary: str | None
    version: str | None
    score: float
    ownerHandle: str | None
    updatedAt: int


class SearchOut(BaseModel):
    results: list[SearchResult]


class ListOut(BaseModel):
    items: list[ListItem]
    nextCursor: str | None


class VersionsOut(BaseModel):
    items: list[VersionInfo]
    nextCursor: str | None


class FileInfo(BaseModel):
    path: str
    size: int
    sha256: str
    contentType: str


class VersionDetail(VersionInfo):
    files: list[FileInfo]


class SkillRef(BaseModel):
    slug: str
    displayName: str


class VersionDetailOut(BaseModel):
    version: VersionDetail | None
    skill: SkillRef | None


class ResolveRef(BaseModel):
    version: str


class ResolveOut(BaseModel):
    match: ResolveRef | None
    latestVersion: ResolveRef | None
