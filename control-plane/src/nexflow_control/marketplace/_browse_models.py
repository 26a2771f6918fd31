"""What browsing a registry answers: bounded models the registry's answer must fit.

A registry is a remote nobody vouched for: its answer is parsed by the install client's
models, then must fit these (lengths and counts bounded) or the browse answers 502
`registry_bad_answer`. Every string here is data for the page, which sets it as text.
"""

from __future__ import annotations

from typing import Annotated, Literal

from nexflow_registry.client import RegistryBadAnswer
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from ._lock import LockedSkill

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Short = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=8192)]
Tags = Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=64)]

MAX_VERSIONS = 500
"""versions listed on a package's page (newest first); a registry sending more is refused"""
MAX_FINDINGS = 500


class BrowseHit(BaseModel):
    name: Name
    publisher: Short
    version: Short
    description: Text
    tags: Tags


class BrowseResults(BaseModel):
    registry: str
    results: list[BrowseHit]
    next_cursor: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,7}$")] | None = None
    """pass as `cursor` for the next page; None on the last one"""


class VersionRow(BaseModel):
    version: Short
    digest: Short
    created_at: Short
    yanked: bool
    yank_reason: Text | None
    removed: bool
    removed_reason: Text | None
    scan_verdict: Short
    signed: bool
    key_id: Short
    log_index: int


class Requests(BaseModel):
    """What the version asks for: what an install asks a human to consent to."""

    hosts: Annotated[list[Short], Field(max_length=200)] = []
    paths: Annotated[list[Short], Field(max_length=200)] = []
    permissions: Annotated[list[Short], Field(max_length=50)] = []
    secrets: Annotated[list[Short], Field(max_length=200)] = []
    runtime: Short | None = None
    image: Short | None = None


class Finding(BaseModel):
    file: Annotated[str, StringConstraints(max_length=1024)]
    line: int
    rule: Short
    severity: Short
    message: Text


KeyStatus = Literal["trusted", "not_pinned", "untrusted", "revoked", "unsigned"]


class SignatureCheck(BaseModel):
    """The shown version's signature as this home's trust store sees it (no install: the
    digest and log inclusion are checked by the install itself)."""

    signed: bool
    key_id: Short
    key_status: KeyStatus
    """trusted: pinned here; not_pinned: the publisher has no key pinned yet (an install
    pins it on first use); untrusted: another key of the publisher is pinned; revoked: here
    or by the registry; unsigned: a ClawHub publish nobody signed"""
    valid: bool | None
    """the signature over the file manifest verifies under the pinned key (or, not pinned,
    the key the registry shows); None when there is no key to check it with"""
    message: str


class PackageDetail(BaseModel):
    registry: str
    name: Name
    publisher: Short
    publisher_verified: bool
    """the shown version is signed by a key pinned here, and the signature verifies"""
    latest: Short | None
    shown: Short
    """the version whose requests, scan and signature are shown: `latest`, else the newest"""
    description: Text
    tags: Tags
    review: Short | None
    similar_to: Annotated[list[Short], Field(max_length=50)]
    versions: Annotated[list[VersionRow], Field(max_length=MAX_VERSIONS)]
    requests: Requests | None
    """None: the registry did not record it (a version published before it did)"""
    scan_verdict: Short
    scan_findings: Annotated[list[Finding], Field(max_length=MAX_FINDINGS)]
    changelog: Text
    signature: SignatureCheck
    installed: LockedSkill | None
    """what this home has installed under the name (from any registry, or a folder)"""
    action: Literal["install", "update", "installed", "none"]
    """what the page offers: `none` when nothing is installable (no latest version)"""


def bounded[M: BaseModel](model: type[M], data: object, what: str) -> M:
    """`data` (the registry's parsed answer) as `model`; `registry_bad_answer` if it does
    not fit the bounds."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RegistryBadAnswer(
            f"the registry's answer to {what} does not fit ({where}: {first['msg']})"
        ) from None
