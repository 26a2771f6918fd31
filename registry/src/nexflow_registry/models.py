"""Request and response bodies of the registry's HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .signing import ManifestEntry


class ErrorOut(BaseModel):
    error: str
    message: str


class PublisherIn(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    public_key: str
    """base64 of the raw ed25519 public key the publisher signs with"""


class TokenIn(BaseModel):
    package: str | None = None
    """restrict the token to this one package"""


class KeyIn(BaseModel):
    public_key: str


class TokenOut(BaseModel):
    publisher: str
    package: str | None
    token: str


class KeyOut(BaseModel):
    publisher: str
    key_id: str
    log_index: int


class YankIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class VersionOut(BaseModel):
    name: str
    version: str
    publisher: str
    digest: str
    size: int
    archive_format: str
    description: str
    tags: list[str]
    permissions: list[str]
    manifest: list[ManifestEntry]
    key_id: str
    signature: str
    log_index: int
    yanked: bool
    yank_reason: str | None
    created_at: str


class VersionBrief(BaseModel):
    version: str
    digest: str
    yanked: bool
    created_at: str


class PackageOut(BaseModel):
    name: str
    publisher: str
    latest: str | None
    """the highest version not yanked; None when every version is yanked"""
    versions: list[VersionBrief]


class SearchHit(BaseModel):
    name: str
    publisher: str
    version: str
    description: str
    tags: list[str]


class SearchOut(BaseModel):
    results: list[SearchHit]


class InclusionOut(BaseModel):
    leaf_index: int
    tree_size: int
    hashes: list[str]
    """base64, leaf side first"""


class ConsistencyOut(BaseModel):
    first: int
    second: int
    hashes: list[str]


class EntryOut(BaseModel):
    index: int
    data: str
    """base64 of the entry's bytes (canonical JSON)"""
