"""SKILL.md and containers: `sandbox.backend`, `image:` and a shipped Dockerfile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nexflow_control.skills import Code, load_skill

WriteSkill = Callable[..., Path]
BASE = "name: demo\ndescription: d\nlocation: ./run.sh\nruntime: bash\n"
RUN = {"run.sh": "echo {}\n"}


def _codes(folder: Path) -> list[tuple[str, str]]:
    return [(d.field, d.code) for d in load_skill(folder).diagnostics if d.is_error]


def test_dockerfile_gives_a_digest_tag_and_asks_for_docker(write_skill: WriteSkill) -> None:
    """A shipped Dockerfile gives image nexflow-skill/<name>:<digest16> and backend docker."""
    folder = write_skill(BASE, files={**RUN, "Dockerfile": "FROM nexflow/bash:bookworm\n"})
    skill = load_skill(folder).skill
    assert skill is not None and skill.dockerfile
    assert skill.image_ref == f"nexflow-skill/demo:{skill.digest.removeprefix('sha256:')[:16]}"
    assert skill.requested_backend == "docker"


def test_plain_skill_asks_for_no_backend(write_skill: WriteSkill) -> None:
    """Without image, Dockerfile or sandbox.backend, the executor's default applies."""
    skill = load_skill(write_skill(BASE, files=RUN)).skill
    assert skill is not None
    assert skill.image_ref is None and skill.requested_backend is None


def test_image_and_dockerfile_exclude_each_other(write_skill: WriteSkill) -> None:
    """Naming an image while shipping a Dockerfile is an error on the image field."""
    files = {**RUN, "Dockerfile": "FROM nexflow/bash:bookworm\n"}
    folder = write_skill(BASE + "image: nexflow/bash:bookworm\n", files=files)
    assert ("image", Code.BAD_IMAGE) in _codes(folder)


def test_unknown_backend_is_refused(write_skill: WriteSkill) -> None:
    """sandbox.backend must be docker or nsjail."""
    folder = write_skill(BASE + "sandbox:\n  backend: firecracker\n", files=RUN)
    assert _codes(folder) == [("sandbox.backend", Code.BAD_VALUE)]


def test_nsjail_backend_with_an_image_is_refused(write_skill: WriteSkill) -> None:
    """nsjail runs no image: asking for it together with an image is an error."""
    folder = write_skill(
        BASE + "image: nexflow/bash:bookworm\nsandbox:\n  backend: nsjail\n", files=RUN
    )
    assert ("sandbox.backend", Code.BAD_VALUE) in _codes(folder)


def test_explicit_backend_is_kept(write_skill: WriteSkill) -> None:
    """sandbox.backend: nsjail is what the skill asks policy for."""
    skill = load_skill(write_skill(BASE + "sandbox:\n  backend: nsjail\n", files=RUN)).skill
    assert skill is not None and skill.requested_backend == "nsjail"


def test_host_tool_image_leaves_the_backend_to_the_executor(write_skill: WriteSkill) -> None:
    """nexflow/git (which nsjail stands in for with the host's git) pins no backend; any
    other image still means docker."""
    git = load_skill(write_skill(BASE + "image: nexflow/git:bookworm\n", files=RUN)).skill
    assert git is not None and git.image_ref == "nexflow/git:bookworm"
    assert git.requested_backend is None
    other = load_skill(write_skill(BASE + "image: nexflow/bash:bookworm\n", files=RUN)).skill
    assert other is not None and other.requested_backend == "docker"
