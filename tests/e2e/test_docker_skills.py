"""End to end over HTTP: a skill that ships a Dockerfile is built, then runs in its image.

Real parts only: `nexflow image build` against the real engine, `nexflow up` with the real
executor, calls through the HTTP API, the audit log read back over HTTP.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.harness import NEXFLOW, REPO, Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
EXAMPLE = REPO / "examples" / "skills" / "json-query"


def _copy_skill(root: Path, name: str = "json-query") -> Path:
    root.mkdir(mode=0o755, exist_ok=True)
    root.chmod(0o755)
    target = root / name
    shutil.copytree(EXAMPLE, target)
    target.chmod(0o755)
    for path in target.iterdir():
        path.chmod(0o644)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example skill whose image `nexflow image build` has built."""
    skills = tmp_path_factory.mktemp("skills")
    skills.chmod(0o755)
    folder = _copy_skill(skills / "built")
    done = subprocess.run(
        [str(NEXFLOW), "image", "build", str(folder)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "nexflow-skill/json-query:" in done.stderr
    return folder.parent


@pytest.fixture(scope="module")
def docker_stack(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(
        tmp_path_factory.mktemp("dstack"),
        *("--skills", str(built), "--sandbox", "docker", "--trust-skill", "json-query"),
    )
    yield s
    s.stop()


def test_skill_with_a_dockerfile_runs_in_its_own_image(docker_stack: Stack) -> None:
    """The call succeeds with jq from the skill's image, and the audit log names that image's
    ID, the Docker backend and the skill digest label it was checked against."""
    reply = docker_stack.call("json-query", {"filter": ".a[] * 2", "data": {"a": [1, 2, 3]}})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["output"] == {"results": [2, 4, 6]}
    assert body["backend"] == "docker"
    detail = docker_stack.client.get("/api/v1/skills/json-query").json()
    image_ref = detail["image"]
    assert image_ref.startswith("nexflow-skill/json-query:")
    image_id = docker.APIClient(version="auto").inspect_image(image_ref)["Id"]
    events = docker_stack.client.get("/api/v1/audit", params={"call_id": body["call_id"]}).json()
    by_action = {e["action"]: e for e in events["events"]}
    assert by_action["call.dispatched"]["payload"]["image"] == image_ref
    assert by_action["call.dispatched"]["payload"]["backend"] == "docker"
    assert by_action["call.finished"]["payload"]["image_id"] == image_id


def test_health_names_the_docker_backend(docker_stack: Stack) -> None:
    """/health says Docker is the default backend and nsjail is available too."""
    health = docker_stack.client.get("/health").json()
    assert health["sandbox"]["backend"] == "docker"
    assert set(health["sandbox"]["available"]) == {"docker", "nsjail"}


def test_a_skill_whose_image_is_not_built_is_refused_clearly(
    docker_stack: Stack, tmp_path: Path
) -> None:
    """A skill version without its image gets 503 image_unavailable naming the fix, and
    nothing runs; the built version is unaffected."""
    skills = tmp_path / "unbuilt"
    folder = _copy_skill(skills, "json-query-2")
    text = (folder / "SKILL.md").read_text().replace("name: json-query", "name: json-query-2")
    (folder / "SKILL.md").write_text(text)
    stack = start_stack(
        tmp_path / "s",
        "--skills",
        str(skills),
        "--sandbox",
        "docker",
        "--trust-skill",
        "json-query-2",
    )
    try:
        reply = stack.call("json-query-2", {"filter": ".", "data": 1})
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"] == "image_unavailable"
        assert "nexflow image build" in reply.json()["message"]
        assert "Traceback" not in reply.text
    finally:
        stack.stop()


def test_nsjail_default_still_runs_image_skills_on_docker(built: Path, tmp_path: Path) -> None:
    """With --sandbox nsjail, echo runs on nsjail and the image skill still on Docker."""
    stack = start_stack(
        tmp_path, "--skills", str(built), "--sandbox", "nsjail", "--trust-skill", "json-query"
    )
    try:
        assert stack.client.get("/health").json()["sandbox"]["backend"] == "nsjail"
        assert stack.call("echo", {"message": "hi"}).json()["backend"] == "nsjail"
        reply = stack.call("json-query", {"filter": ".", "data": [1]})
        assert reply.status_code == 200, reply.text
        assert reply.json()["backend"] == "docker"
    finally:
        stack.stop()
