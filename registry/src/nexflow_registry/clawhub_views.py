"""What the ClawHub CLI reads: skills, versions, moderation, resolve, files as a zip.

A package is a ClawHub skill (slug = name, owner = publisher). ClawHub's view of `latest`
includes unsigned versions (ClawHub publishes); Nexflow's does not. Removed, yanked and
held versions are never offered; a `warn` scan shows as `isSuspicious` (the CLI then asks
for `--force`)."""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from . import archives, queries
from .clawhub_models import (
    FileInfo,
    ListItem,
    ListOut,
    Moderation,
    Owner,
    ResolveOut,
    ResolveRef,
    SearchOut,
    SearchResult,
    SkillCard,
    SkillOut,
    SkillRef,
    VersionDetail,
    VersionDetailOut,
    VersionInfo,
    VersionsOut,
)
from .context import Registry
from .errors import Conflict, Forbidden, Gone, NotFound
from .scan import Finding


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _info(row: Any) -> VersionInfo:
    return VersionInfo(version=row.version, createdAt=ms(row.created_at), changelog=row.changelog)


def _card(rows: list[Any], best: Any) -> SkillCard:
    return SkillCard(
        slug=best.package,
        displayName=best.package,
        summary=best.description or None,
        tags={"latest": best.version},
        stats={},
        createdAt=min(ms(r.created_at) for r in rows),
        updatedAt=max(ms(r.created_at) for r in rows),
    )


def moderation(row: Any) -> Moderation:
    findings = [Finding.model_validate(f) for f in json.loads(row.scan_findings)]
    return Moderation(
        isSuspicious=row.scan_verdict == "warn",
        isMalwareBlocked=row.scan_verdict == "block",
        verdict={"clean": "clean", "warn": "suspicious"}.get(row.scan_verdict, "malicious"),
        reasonCodes=sorted({f.rule for f in findings}),
        summary=None if not findings else f"{len(findings)} scan finding(s)",
        evidence=[
            {
                "code": f.rule,
                "severity": "warn" if f.severity == "warn" else "critical",
                "file": f.file,
                "line": f.line,
                "message": f.message,
                "evidence": "",
            }
            for f in findings
        ],
    )


async def live(reg: Registry, slug: str) -> tuple[list[Any], Any]:
    """A skill's rows and its ClawHub latest; `NotFound` ("skill not found") if none, the
    refusal of a held or rejected name, `removed` with the reason if every version was."""
    try:
        rows, review = await queries.rows_of(reg.db, slug)
    except NotFound:
        raise NotFound("skill not found") from None
    best = queries.latest(rows, signed_only=False)
    if best is None or queries.hidden(review):
        queries.refuse_unservable(queries.version_out(rows[0], review and review.status))
        raise NotFound("skill not found")
    return rows, best


async def skill(reg: Registry, slug: str) -> SkillOut:
    rows, best = await live(reg, slug)
    return SkillOut(
        skill=_card(rows, best),
        latestVersion=_info(best),
        owner=Owner(handle=best.publisher),
        moderation=moderation(best),
    )


async def search(reg: Registry, q: str, limit: int) -> SearchOut:
    by_name = await queries.candidates(reg.db, q)
    results = []
    for name in queries.ranked(list(by_name), q):
        best = queries.latest(by_name[name], signed_only=False)
        if best is None:
            continue
        score = 1.0 if name == q.lower() else 0.8 if name.startswith(q.lower()) else 0.5
        results.append(
            SearchResult(
                slug=name,
                displayName=name,
                summary=best.description or None,
                version=best.version,
                score=score,
                ownerHandle=best.publisher,
                updatedAt=ms(best.created_at),
            )
        )
        if len(results) >= limit:
            break
    return SearchOut(results=results)


async def listing(reg: Registry, prefix: str, limit: int, cursor: str | None) -> ListOut:
    by_name = await queries.candidates(reg.db, "")
    names = sorted(n for n in by_name if n.startswith(prefix) and (cursor is None or n > cursor))
    items = []
    for name in names[:limit]:
        best = queries.latest(by_name[name], signed_only=False)
        if best is not None:
            card = _card(by_name[name], best)
            items.append(ListItem(**card.model_dump(), latestVersion=_info(best)))
    more = len(names) > limit
    return ListOut(items=items, nextCursor=names[limit - 1] if more and limit else None)


def _offered(rows: list[Any]) -> list[Any]:
    return [r for r in rows if not r.yanked and not r.removed]


async def versions(reg: Registry, slug: str, limit: int) -> VersionsOut:
    rows, _ = await live(reg, slug)
    return VersionsOut(items=[_info(r) for r in _offered(rows)[:limit]], nextCursor=None)


async def version_row(reg: Registry, slug: str, version: str | None) -> Any:
    """The row of `slug` at `version` (or its ClawHub latest), if it may be served."""
    rows, best = await live(reg, slug)
    if version is None:
        return best
    for row in rows:
        if row.version == version:
            queries.refuse_unservable(queries.version_out(row))
            return row
    raise NotFound(f"skill {slug} has no version {version}")


async def version_detail(reg: Registry, slug: str, version: str) -> VersionDetailOut:
    row = await version_row(reg, slug, version)
    files = [
        FileInfo(
            path=m["path"],
            size=m["size"],
            sha256=m["sha256"],
            contentType=mimetypes.guess_type(m["path"])[0] or "application/octet-stream",
        )
        for m in json.loads(row.manifest)
    ]
    return VersionDetailOut(
        version=VersionDetail(**_info(row).model_dump(), files=files),
        skill=SkillRef(slug=slug, displayName=slug),
    )


def fingerprint(manifest: list[dict[str, Any]]) -> str:
    """The CLI's folder fingerprint: sha256 of sorted `path:sha256` lines."""
    lines = sorted((f"{m['path']}:{m['sha256']}" for m in manifest), key=lambda s: (s.lower(), s))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


async def resolve(reg: Registry, slug: str, hash_: str | None) -> ResolveOut:
    try:
        rows, best = await live(reg, slug)
    except (NotFound, Conflict, Forbidden, Gone):
        return ResolveOut(match=None, latestVersion=None)
    match = next(
        (r for r in _offered(rows) if hash_ and fingerprint(json.loads(r.manifest)) == hash_),
        None,
    )
    return ResolveOut(
        match=ResolveRef(version=match.version) if match is not None else None,
        latestVersion=ResolveRef(version=best.version),
    )


def unpacked_files(reg: Registry, data: bytes) -> dict[str, bytes]:
    """path -> bytes of an archive, unpacked with every safety check (a worker thread)."""
    work = Path(tempfile.mkdtemp(prefix="clawhub-", dir=reg.scratch))
    try:
        archives.unpack(data, work / "pkg", reg.limits)
        root = work / "pkg"
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def as_zip(files: dict[str, bytes]) -> bytes:
    """A zip whose entries are the skill's files at its top (what the CLI unpacks)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for path, data in sorted(files.items()):
            out.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()
