"""Building skill images with the Docker engine (`nexflow image build`, `nexflow up`).

A skill that ships a Dockerfile gets an image tagged by content,
`nexflow-skill/<name>:<first 16 hex of the skill digest>`, labelled with the full digest
(`io.nexflow.skill-digest`). The control plane sends that tag together with the label it
expects, the executor resolves the tag to an image ID, refuses an image without the label,
runs the container by ID and reports the ID into the audit log: a re-tagged or stale
image can never run in a skill version's name.

The Docker SDK is imported lazily: the control plane serves without it, only these
authoring commands (and `nexflow up`, which starts the privileged executor) touch the
engine. Builds use the legacy builder (the stock Debian engine has no BuildKit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..skills import SKILL_DIGEST_LABEL, Skill

__all__ = ["BuildError", "ImageRow", "build_skill_image", "list_images", "skill_image_present"]

Progress = Callable[[str], None]


class BuildError(Exception):
    """The engine is unreachable or the build failed; the message says which step."""


@dataclass(frozen=True, slots=True)
class ImageRow:
    """One Nexflow image as `nexflow image list` shows it."""

    tags: tuple[str, ...]
    id: str
    size_bytes: int
    runtime: str
    skill: str
    created: int


def _client() -> Any:
    import docker
    import docker.errors

    try:
        client = docker.APIClient(version="auto", timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        raise BuildError(f"the Docker engine does not answer: {exc}") from exc
    return client


def skill_image_present(skill: Skill) -> bool:
    """True when the skill's content-addressed image exists with the matching label."""
    import docker.errors

    ref = skill.image_ref
    if ref is None:
        return True
    try:
        data = _client().inspect_image(ref)
    except docker.errors.ImageNotFound:
        return False
    labels = (data.get("Config") or {}).get("Labels") or {}
    return bool(labels.get(SKILL_DIGEST_LABEL) == skill.digest)


def build_skill_image(skill: Skill, progress: Progress) -> str:
    """Build the image of a skill that ships a Dockerfile; return its image ID."""
    import docker.errors

    if not skill.dockerfile or skill.image_ref is None:
        raise BuildError(f"skill {skill.name!r} ships no Dockerfile")
    client = _client()
    labels = {SKILL_DIGEST_LABEL: skill.digest, "io.nexflow.skill": skill.name}
    image_id = ""
    try:
        for chunk in client.build(
            path=str(skill.dir),
            tag=skill.image_ref,
            labels=labels,
            rm=True,
            forcerm=True,
            decode=True,
            pull=False,
        ):
            if "error" in chunk:
                raise BuildError(str(chunk.get("error", "")).strip()[:500])
            text = str(chunk.get("stream", "")).strip()
            if text:
                progress(text)
            aux = chunk.get("aux") or {}
            if "ID" in aux:
                image_id = str(aux["ID"])
    except docker.errors.DockerException as exc:
        raise BuildError(f"building {skill.image_ref}: {exc}") from exc
    if not image_id:
        image_id = str(client.inspect_image(skill.image_ref)["Id"])
    return image_id


def list_images() -> list[ImageRow]:
    """Runtime images (label io.nexflow.runtime) and skill images, newest first."""
    client = _client()
    rows: dict[str, ImageRow] = {}
    for label in ("io.nexflow.runtime", SKILL_DIGEST_LABEL):
        for image in client.images(filters={"label": label}):
            labels = image.get("Labels") or {}
            rows[image["Id"]] = ImageRow(
                tags=tuple(sorted(t for t in image.get("RepoTags") or [] if t != "<none>:<none>")),
                id=str(image["Id"]),
                size_bytes=int(image.get("Size", 0)),
                runtime=str(labels.get("io.nexflow.runtime", "")),
                skill=str(labels.get("io.nexflow.skill", "")),
                created=int(image.get("Created", 0)),
            )
    return sorted(rows.values(), key=lambda r: -r.created)
