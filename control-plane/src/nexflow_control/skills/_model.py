"""The immutable `Skill` model and its JSON views for the HTTP API.

Everything is frozen; JSON-ish values (schemas, metadata, OpenClaw install
steps) are stored as canonical JSON text and handed out as fresh copies, so no
caller can mutate a loaded skill.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from nexflow_common.images import HOST_TOOL_IMAGES

PathAccess = Literal["read", "write"]
WORKSPACE_VAR = "${workspace}"
SKILL_IMAGE_REPO = "nexflow-skill"  # where images built from a skill's Dockerfile are tagged
SKILL_DIGEST_LABEL = "io.nexflow.skill-digest"  # the skill version an image was built from


class Permission(StrEnum):
    SHELL = "shell"
    FILESYSTEM = "filesystem"
    NETWORK = "network"
    SECRETS = "secrets"


class Runtime(StrEnum):
    BASH = "bash"
    PYTHON = "python"
    NODE = "node"


class Dialect(StrEnum):
    AGENT_SKILLS = "agent-skills"
    NEXFLOW = "nexflow"
    OPENCLAW = "openclaw"


@dataclass(frozen=True, slots=True)
class FilesystemRequest:
    """A directory the skill asks to see; ``path`` may contain ``${workspace}``."""

    path: str
    mode: Literal["ro", "rw"] = "ro"

    def resolve(self, workspace: Path) -> Path:
        return Path(self.path.replace(WORKSPACE_VAR, str(workspace)))

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "mode": self.mode}


@dataclass(frozen=True, slots=True)
class NetworkRequest:
    """A host (``api.example.com`` or ``*.example.com``) and optional port."""

    host: str
    port: int | None = None

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Requirements:
    binaries: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    env: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"binaries": list(self.binaries), "files": list(self.files), "env": list(self.env)}


def _thaw(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def freeze_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Skill:
    """One loaded, valid skill."""

    name: str
    description: str
    dir: Path
    skill_md: Path
    digest: str
    source: str = "user"
    version: str | None = None
    author: str | None = None
    license: str | None = None
    compatibility: str | None = None
    homepage: str | None = None
    entrypoint: Path | None = None  # relative to ``dir``
    runtime: Runtime | None = None
    image: str | None = None
    dockerfile: bool = False  # the folder ships its own Dockerfile (built by `nexflow image build`)
    backend: str | None = None  # sandbox.backend: docker | nsjail; None = the executor's default
    permissions: frozenset[Permission] = frozenset()
    filesystem: tuple[FilesystemRequest, ...] = ()
    network: tuple[NetworkRequest, ...] = ()
    secrets: tuple[str, ...] = ()
    """The secret names SKILL.md's `secrets:` declares (see `_secret_names`)."""
    optional_secrets: tuple[str, ...] = ()
    """The secret names SKILL.md's `optional_secrets:` declares: delivered when granted."""
    shared: tuple[tuple[str, Path], ...] = ()
    """SKILL.md's `shared:` files taken from `_shared/` beside the folder: (the name at
    the skill's top, the file). The digest and the bundle cover them (see `_shared`)."""
    timeout_sec: int = 30
    max_output_kb: int = 256
    idempotent: bool = False
    """metadata.idempotent: running it twice does no harm, so a call whose executor was
    lost mid-run may run again on another."""
    tags: tuple[str, ...] = ()
    category: str | None = None
    emoji: str | None = None
    allowed_tools: tuple[str, ...] = ()
    requirements: Requirements = Requirements()
    env_required: bool | tuple[str, ...] = False
    os: tuple[str, ...] = ()
    dialects: frozenset[Dialect] = frozenset()
    body: str = ""
    input_schema_json: str | None = None
    output_schema_json: str | None = None
    metadata_json: str | None = None
    install_json: str | None = None
    verified_publisher: str | None = None
    """The registry publisher whose signed, logged release these files are (set from the
    home's skills.lock when the files still match it); None: the publisher is a claim."""
    consent_pending: bool = False
    """An update asks for more than a human approved: installed, but no call runs it."""
    scan_verdict: str | None = None
    """The install-time scan's verdict (clean, warn) from skills.lock; None: not scanned."""

    @property
    def executable(self) -> bool:
        """False for instruction-only skills: listed, never executed."""
        return self.entrypoint is not None

    @property
    def publisher(self) -> str | None:
        return self.verified_publisher or self.author

    @property
    def image_ref(self) -> str | None:
        """The image a call runs in: `image:`, or for a Dockerfile the content-addressed tag
        `nexflow-skill/<name>:<digest[:16]>` that `nexflow image build` gives it."""
        if self.dockerfile:
            return f"{SKILL_IMAGE_REPO}/{self.name}:{self.digest.partition(':')[2][:16]}"
        return self.image

    @property
    def requested_backend(self) -> str | None:
        """The backend this skill asks for: `sandbox.backend`, else docker when it names an
        image or ships a Dockerfile, else None (the executor's default). Policy decides.
        An image nsjail can stand in for (HOST_TOOL_IMAGES, e.g. nexflow/git) asks for none."""
        if self.backend is not None:
            return self.backend
        pinned = self.image is not None and self.image not in HOST_TOOL_IMAGES
        return "docker" if pinned or self.dockerfile else None

    @property
    def entrypoint_path(self) -> Path | None:
        return None if self.entrypoint is None else self.dir / self.entrypoint

    @property
    def input_schema(self) -> dict[str, Any] | None:
        value: dict[str, Any] | None = _thaw(self.input_schema_json)
        return value

    @property
    def output_schema(self) -> dict[str, Any] | None:
        value: dict[str, Any] | None = _thaw(self.output_schema_json)
        return value

    @property
    def metadata(self) -> dict[str, Any]:
        value: dict[str, Any] | None = _thaw(self.metadata_json)
        return value or {}

    @property
    def install(self) -> list[Any]:
        value: list[Any] | None = _thaw(self.install_json)
        return value or []

    @property
    def path_inputs(self) -> list[tuple[str, PathAccess]]:
        """Top-level input properties marked ``x-nexflow-path: read|write``, sorted by name."""
        schema = self.input_schema or {}
        props = schema.get("properties")
        if not isinstance(props, dict):
            return []
        out: list[tuple[str, PathAccess]] = []
        for key in sorted(props):
            access = props[key].get("x-nexflow-path") if isinstance(props[key], dict) else None
            if access == "read":
                out.append((key, "read"))
            elif access == "write":
                out.append((key, "write"))
        return out

    @property
    def network_inputs(self) -> list[str]:
        """Top-level input properties marked ``x-nexflow-network: url``, sorted by name."""
        props = (self.input_schema or {}).get("properties")
        if not isinstance(props, dict):
            return []
        return [
            key
            for key in sorted(props)
            if isinstance(props[key], dict) and props[key].get("x-nexflow-network") == "url"
        ]

    def to_summary(self) -> dict[str, Any]:
        """Short JSON view for ``GET /api/v1/skills``."""
        return {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "author": self.author,
            "source": self.source,
            "executable": self.executable,
            "runtime": self.runtime.value if self.runtime else None,
            "permissions": sorted(p.value for p in self.permissions),
            "tags": list(self.tags),
            "category": self.category,
            "emoji": self.emoji,
            "digest": self.digest,
        }

    def to_detail(self) -> dict[str, Any]:
        """Full JSON view for ``GET /api/v1/skills/{name}`` (no host paths)."""
        detail = self.to_summary()
        detail.update(
            {
                "license": self.license,
                "compatibility": self.compatibility,
                "homepage": self.homepage,
                "entrypoint": self.entrypoint.as_posix() if self.entrypoint else None,
                "image": self.image_ref,
                "dockerfile": self.dockerfile,
                "backend": self.backend,
                "filesystem": [f.to_dict() for f in self.filesystem],
                "network": [str(n) for n in self.network],
                "secrets": list(self.secrets),
                "optional_secrets": list(self.optional_secrets),
                "timeout_sec": self.timeout_sec,
                "max_output_kb": self.max_output_kb,
                "idempotent": self.idempotent,
                "allowed_tools": list(self.allowed_tools),
                "requirements": self.requirements.to_dict(),
                "env_required": (
                    self.env_required
                    if isinstance(self.env_required, bool)
                    else list(self.env_required)
                ),
                "os": list(self.os),
                "install": self.install,
                "dialects": sorted(d.value for d in self.dialects),
                "input_schema": self.input_schema,
                "output_schema": self.output_schema,
                "path_inputs": [[name, access] for name, access in self.path_inputs],
                "network_inputs": self.network_inputs,
                "metadata": self.metadata,
                "instructions": self.body,
            }
        )
        return detail
