"""Request and response bodies of the registry's HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .scan import Finding, Requests
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


class ReasonIn(YankIn):
    """a removal, a rejection or a key revocation: the reason stays on the record"""


class RotateIn(BaseModel):
    old_key_id: str
    new_public_key: str
    signature: str
    """base64 ed25519 signature by the old key over `signing.rotation_message`"""


class PublisherKeyOut(BaseModel):
    key_id: str
    public_key: str
    status: str
    """active | rotated (signs no new version) | revoked"""
    status_reason: str | None
    created_at: str
    log_index: int | None


class PublisherOut(BaseModel):
    name: str
    created_at: str
    keys: list[PublisherKeyOut]


class LoggedOut(BaseModel):
    log_index: int


class ReviewOut(BaseModel):
    package: str
    publisher: str
    similar_to: list[str]
    status: str
    """held | approved | rejected"""
    reason: str | None
    created_at: str
    decided_at: str | None


class WhoamiUser(BaseModel):
    handle: str
    displayName: str  # ClawHub's field name
    role: str


class WhoamiOut(BaseModel):
    user: WhoamiUser
    admin: bool
    publisher: str | None
    package: str | None


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
    scan_verdict: str
    """clean | warn | block (a block is never stored: the publish is refused)"""
    scan_findings: list[Finding]
    signed: bool
    """False for a ClawHub publish not yet signed: never Nexflow's `latest`"""
    removed: bool
    removed_reason: str | None
    changelog: str
    review: str | None
    """held | approved | rejected when the name was held as a lookalike; else None"""
    requests: Requests | None = None
    """what SKILL.md asks for (hosts, paths, permission classes, secrets, runtime, image);
    None for a version published before the registry recorded it"""


class VersionBrief(BaseModel):
    version: str
    digest: str
    yanked: bool
    created_at: str
    yank_reason: str | None
    removed: bool
    removed_reason: str | None
    scan_verdict: str
    signed: bool
    key_id: str
    log_index: int


class PackageOut(BaseModel):
    name: str
    publisher: str
    latest: str | None
    """the highest signed version neither yanked nor removed; None when there is none or the
    name is held for review"""
    versions: list[VersionBrief]
    description: str
    tags: list[str]
    permissions: list[str]
    """declared by the newest version"""
    scan_verdict: str
    key_id: str
    review: str | None
    similar_to: list[str]
    requests: Requests | None = None
    """what the newest version's SKILL.md asks for (None: not recorded)"""


class SearchHit(BaseModel):
    name: str
    publisher: str
    version: str
    description: str
    tags: list[str]


class SearchOut(BaseModel):
    results: list[SearchHit]
    next_cursor: str | None = None
    """pass as `cursor` for the next page; None on the last one"""


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
