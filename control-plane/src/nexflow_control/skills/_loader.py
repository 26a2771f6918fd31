"""Load one skill folder into a `Skill`, or explain why not.

`load_skill` never raises on anything a SKILL.md or skill folder contains; it
returns the skill (None when any error was found) and all diagnostics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._context import Checker
from ._diagnostics import Code, Diagnostic, has_errors
from ._digest import skill_digest
from ._document import read_document
from ._markdown import scan_body
from ._metadata import NEXFLOW_KEYS, OPENCLAW_KEYS, read_metadata
from ._model import Dialect, Permission, Requirements, Skill, freeze_json
from ._sandbox import (
    read_backend,
    read_dockerfile,
    read_filesystem,
    read_image,
    read_network,
    read_runtime,
    resolve_entrypoint,
)
from ._schemas import NETWORK_MARK, read_schemas
from ._secret_names import read_secrets
from ._shared import read_shared

SKILL_FILE = "SKILL.md"
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
VERSION_RE = re.compile(r"^v?\d+(\.\d+){0,2}([-+][0-9A-Za-z.+-]+)?$")
SPEC_FIELDS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
NEXFLOW_FIELDS = {
    "version", "author", "publisher", "homepage", "location", "permissions", "requirements",
    "tags", "category", "emoji", "env_required", "runtime", "image", "sandbox",
    "input_schema", "output_schema", "secrets", "optional_secrets", "shared",
}  # fmt: skip
TOLERATED_FIELDS = {"user-invocable", "disable-model-invocation", "argument-hint", "model"}


@dataclass
class LoadResult:
    skill: Skill | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _dedupe(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))


def _read_identity(ck: Checker, folder_name: str) -> tuple[str | None, str | None]:
    fm = ck.doc.frontmatter
    name = ck.string(fm, "name", "name", required=True)
    if name is not None:
        if len(name) > 64 or not NAME_RE.match(name):
            ck.add("name", Code.BAD_NAME, "use 1-64 lowercase letters, digits and single hyphens")
            name = None
        elif name != folder_name:
            ck.add("name", Code.NAME_MISMATCH, f"name {name!r} differs from folder {folder_name!r}")
    description = ck.string(fm, "description", "description", required=True, max_len=1024)
    return name, description


def _read_version(ck: Checker) -> str | None:
    value = ck.doc.frontmatter.get("version")
    if isinstance(value, int | float) and not isinstance(value, bool):
        ck.warn("version", Code.BAD_TYPE, "write the version as a quoted string")
        value = str(value)
    if value is None:
        return None
    if not isinstance(value, str) or not VERSION_RE.match(value):
        ck.add("version", Code.BAD_VERSION, f"{str(value)[:40]!r} is not a semantic version")
        return None
    return value


def _read_permissions(ck: Checker) -> frozenset[Permission]:
    out: set[Permission] = set()
    for index, item in enumerate(ck.string_list(ck.doc.frontmatter, "permissions", "permissions")):
        try:
            out.add(Permission(item.strip().lower()))
        except ValueError:
            known = ", ".join(p.value for p in Permission)
            ck.add(
                f"permissions[{index}]",
                Code.UNKNOWN_PERMISSION,
                f"unknown permission {item[:40]!r} (use {known})",
            )
    return frozenset(out)


def _read_requirements(ck: Checker, skill_dir: Path) -> Requirements:
    req = ck.mapping(ck.doc.frontmatter, "requirements", "requirements")
    for extra in sorted(set(req) - {"binaries", "files", "env"}):
        ck.warn(f"requirements.{extra}", Code.UNKNOWN_FIELD, f"unknown field {extra!r}")
    files = ck.string_list(req, "files", "requirements.files")
    root = skill_dir.resolve()
    for index, rel in enumerate(files):
        try:
            target = (root / rel).resolve()
            present = target.is_relative_to(root) and target.exists()
        except (OSError, RuntimeError, ValueError):
            present = False
        if not present:
            ck.warn(
                f"requirements.files[{index}]",
                Code.REQUIREMENT_FILE_MISSING,
                f"{rel[:80]!r} is not a file inside the skill folder",
            )
    return Requirements(
        binaries=ck.string_list(req, "binaries", "requirements.binaries"),
        files=files,
        env=ck.string_list(req, "env", "requirements.env"),
    )


def _read_env_required(ck: Checker) -> bool | tuple[str, ...]:
    value = ck.doc.frontmatter.get("env_required", False)
    if isinstance(value, bool):
        return value
    return ck.string_list(ck.doc.frontmatter, "env_required", "env_required")


def _dialects(fm: dict[str, Any], meta: dict[str, Any], body_schema: bool) -> frozenset[Dialect]:
    found: set[Dialect] = set()
    if set(fm) & (NEXFLOW_FIELDS - {"homepage"}) or set(meta) & set(NEXFLOW_KEYS) or body_schema:
        found.add(Dialect.NEXFLOW)
    if set(meta) & set(OPENCLAW_KEYS):
        found.add(Dialect.OPENCLAW)
    spec_only = set(meta) - set(NEXFLOW_KEYS) - set(OPENCLAW_KEYS)
    if set(fm) & (SPEC_FIELDS - {"name", "description", "metadata"}) or spec_only or not found:
        found.add(Dialect.AGENT_SKILLS)
    return frozenset(found)


def _check_permission_use(ck: Checker, skill: dict[str, Any]) -> None:
    perms: frozenset[Permission] = skill["permissions"]
    if skill["filesystem"] and Permission.FILESYSTEM not in perms:
        ck.warn("sandbox.filesystem", Code.PERMISSION_NOT_DECLARED, "'filesystem' not declared")
    if skill["network"] and Permission.NETWORK not in perms:
        ck.warn("sandbox.network", Code.PERMISSION_NOT_DECLARED, "'network' not declared")
    if skill["secrets"] and Permission.SECRETS not in perms:
        ck.warn("secrets", Code.PERMISSION_NOT_DECLARED, "'secrets' not declared")


def load_skill(skill_dir: Path, source: str = "user") -> LoadResult:
    """Load ``skill_dir/SKILL.md``; the skill is None when any error was found."""
    skill_md = skill_dir / SKILL_FILE
    doc, diagnostics = read_document(skill_md)
    if doc is None:
        return LoadResult(None, diagnostics)
    ck = Checker(doc, diagnostics)
    fm = doc.frontmatter
    name, description = _read_identity(ck, skill_dir.name)
    meta = read_metadata(ck)
    body = scan_body(doc.body, doc.body_line)
    input_schema, output_schema = read_schemas(ck, body)
    location = ck.string(fm, "location", "location")
    entrypoint = resolve_entrypoint(ck, skill_dir, location) if location is not None else None
    sandbox = ck.mapping(fm, "sandbox", "sandbox")
    for extra in sorted(set(sandbox) - {"filesystem", "network", "backend"}):
        ck.warn(f"sandbox.{extra}", Code.UNKNOWN_FIELD, f"unknown field {extra!r}")
    claw = meta.openclaw
    requirements = _read_requirements(ck, skill_dir)
    if claw is not None:
        requirements = Requirements(
            binaries=_dedupe(requirements.binaries, claw.bins),
            files=requirements.files,
            env=_dedupe(requirements.env, claw.env),
        )
    fields: dict[str, Any] = {
        "version": _read_version(ck),
        "author": ck.string(fm, "author", "author") or ck.string(fm, "publisher", "publisher"),
        "license": ck.string(fm, "license", "license"),
        "compatibility": ck.string(fm, "compatibility", "compatibility", max_len=500),
        "homepage": ck.string(fm, "homepage", "homepage"),
        "category": ck.string(fm, "category", "category"),
        "emoji": ck.string(fm, "emoji", "emoji") or (claw.emoji if claw else None),
        "tags": ck.string_list(fm, "tags", "tags", split_string=True),
        "allowed_tools": ck.string_list(fm, "allowed-tools", "allowed-tools", split_string=True),
        "permissions": _read_permissions(ck),
        "runtime": read_runtime(ck, skill_dir, entrypoint),
        "image": read_image(ck),
        "dockerfile": read_dockerfile(ck, skill_dir),
        "backend": read_backend(ck, sandbox),
        "filesystem": read_filesystem(ck, sandbox),
        "network": read_network(ck, sandbox),
        "env_required": _read_env_required(ck),
    }
    fields["secrets"], fields["optional_secrets"] = read_secrets(ck)
    fields["shared"] = read_shared(ck, skill_dir)
    _check_permission_use(ck, fields)
    if fields["backend"] == "nsjail" and (fields["image"] or fields["dockerfile"]):
        ck.add(
            "sandbox.backend",
            Code.BAD_VALUE,
            "nsjail runs no container image: drop 'backend: nsjail' or the image/Dockerfile",
        )
    props = (input_schema or {}).get("properties")
    url_inputs = [
        k for k, v in (props if isinstance(props, dict) else {}).items()
        if isinstance(v, dict) and NETWORK_MARK in v
    ]  # fmt: skip
    if url_inputs and Permission.NETWORK not in fields["permissions"]:
        where = f"input_schema.properties.{url_inputs[0]}.{NETWORK_MARK}"
        ck.warn(where, Code.PERMISSION_NOT_DECLARED, "'network' not declared")
    for extra in sorted(set(fm) - SPEC_FIELDS - NEXFLOW_FIELDS - TOLERATED_FIELDS):
        ck.warn(extra, Code.UNKNOWN_FIELD, f"unknown field {extra!r}")
    if name is None or description is None or has_errors(ck.diagnostics):
        return LoadResult(None, ck.diagnostics)
    skill = Skill(
        name=name,
        description=description,
        dir=skill_dir,
        skill_md=skill_md,
        digest=skill_digest(skill_dir, fields["shared"]),
        source=source,
        entrypoint=entrypoint,
        timeout_sec=meta.timeout_sec,
        max_output_kb=meta.max_output_kb,
        idempotent=meta.idempotent,
        requirements=requirements,
        os=claw.os if claw else (),
        dialects=_dialects(fm, meta.raw, body.input is not None or body.output is not None),
        body=doc.body.strip("\n"),
        input_schema_json=freeze_json(input_schema),
        output_schema_json=freeze_json(output_schema),
        metadata_json=freeze_json(meta.raw or None),
        install_json=freeze_json(claw.install if claw and claw.install else None),
        **fields,
    )
    return LoadResult(skill, ck.diagnostics)
