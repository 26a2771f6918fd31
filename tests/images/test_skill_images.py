"""The skill images (skill-images/) as built by scripts/build-images.sh.

These tests inspect and run the images already in the local Docker engine; they never
build the images (that needs root, debootstrap and the Debian mirror, and takes a minute):
run `scripts/build-images.sh` first (`make test` does). A missing image is a failure that
says so, not a skip. They use the `docker` CLI, so they need no Python Docker SDK.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
RUNTIMES = ("bash", "python", "node")
IMAGES = ("base", *RUNTIMES, "git")
RUNTIME_OF = {"base": "none", "git": "python"}  # else the image's own name
BUILD_HINT = "run scripts/build-images.sh (as root) before the tests"

# Measured at 74 / 118 / 119 / 173 / 203 MB (Debian 12, Nov-Dec 2026); the bounds leave
# 15-35 % headroom for security updates while still catching an accidental toolchain or docs.
MAX_MB = {"base": 100, "bash": 150, "python": 150, "node": 200, "git": 240}

# The interpreter paths the executor runs (executor/src/nexflow_executor/sandbox).
INTERPRETER = {
    "bash": ["/bin/bash"],
    "python": ["/usr/bin/python3", "-I", "-S"],
    "node": ["/usr/bin/node"],
}
# Per runtime: an entry script that reads a JSON object on stdin and writes one on stdout,
# using the runtime's own JSON support (python3's json module is missing from
# python3-minimal, which is why the image installs python3).
SCRIPTS = {
    "bash": (
        "main.sh",
        'read -r line\nprintf \'{"got": %s, "runtime": "bash", "major": %d}\\n\' '
        '"$line" "${BASH_VERSINFO[0]}"\n',
    ),
    "python": (
        "main.py",
        "import json, sys\n"
        "data = json.load(sys.stdin)\n"
        'print(json.dumps({"got": data, "runtime": "python", "major": sys.version_info[0]}))\n',
    ),
    "node": (
        "main.js",
        'const data = JSON.parse(require("fs").readFileSync(0, "utf8"));\n'
        "const major = Number(process.versions.node.split('.')[0]);\n"
        'console.log(JSON.stringify({got: data, runtime: "node", major}));\n',
    ),
}
MIN_MAJOR = {"bash": 5, "python": 3, "node": 18}

# The confinement the executor's Docker backend applies (sandbox/container.py).
CONFINED = [
    "--read-only",
    "--tmpfs",
    "/tmp:rw,nosuid,nodev,size=16m,mode=1777",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges:true",
    "--network",
    "none",
]


def tag(name: str) -> str:
    return f"nexflow/{name}:{SUITE}"


def docker(*args: str, input: str | None = None, timeout: float = 120) -> str:
    """Run the docker CLI; return stdout, fail the test with stderr on a non-zero exit."""
    proc = subprocess.run(
        ["docker", *args], input=input, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


@cache
def settings() -> dict[str, str]:
    """skill-images/image.env as the build saw it (the environment may override values)."""
    names = ["NEXFLOW_IMAGES_VERSION", "NEXFLOW_IMAGES_VENDOR", "NEXFLOW_IMAGES_SOURCE"]
    names += ["NEXFLOW_IMAGES_LICENSES", "SOURCE_DATE_EPOCH"]
    script = ". skill-images/image.env; " + "; ".join(f'echo "${n}"' for n in names)
    out = subprocess.run(
        ["bash", "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return dict(zip(names, out.splitlines(), strict=True))


@pytest.fixture(scope="session")
def engine() -> None:
    """The Docker engine answers (a missing engine is a skip, which CI turns into a failure)."""
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("the Docker engine does not answer (scripts/start-dockerd.sh)")


_inspected: dict[str, dict[str, Any]] = {}


def inspect(name: str) -> dict[str, Any]:
    """`docker image inspect` of nexflow/<name>:bookworm; fails clearly when it is missing."""
    if name not in _inspected:
        proc = subprocess.run(
            ["docker", "image", "inspect", tag(name)], capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            pytest.fail(f"image {tag(name)} is missing: {BUILD_HINT}")
        _inspected[name] = json.loads(proc.stdout)[0]
    return _inspected[name]


@pytest.mark.parametrize("name", IMAGES)
def test_default_user_is_uid_1000(engine: None, name: str) -> None:
    """The image runs as uid/gid 1000 by default, declared numerically in its config."""
    assert inspect(name)["Config"]["User"] == "1000:1000"  # numeric: runAsNonRoot can check
    assert docker("run", "--rm", tag(name), "id", "-u").strip() == "1000"
    assert docker("run", "--rm", tag(name), "id", "-g").strip() == "1000"


@pytest.mark.parametrize("name", IMAGES)
def test_no_setuid_or_setgid_file(engine: None, name: str) -> None:
    """No file or directory in the image has the setuid or setgid bit."""
    inspect(name)
    # As root, so that find can read every directory (a uid-1000 find would skip some).
    found = docker("run", "--rm", "--user", "0", tag(name), "find", "/", "-xdev", "-perm", "/6000")
    assert found.split() == []


@pytest.mark.parametrize("name", IMAGES)
def test_labels(engine: None, name: str) -> None:
    """The OCI labels, the runtime label and the build hash are present and correct."""
    labels = inspect(name)["Config"]["Labels"] or {}
    s = settings()
    oci = "org.opencontainers.image."
    created = datetime.fromtimestamp(int(s["SOURCE_DATE_EPOCH"]), UTC)
    assert labels.get(oci + "title") == f"nexflow/{name}"
    assert labels.get(oci + "description", "").strip()
    assert labels.get(oci + "version") == s["NEXFLOW_IMAGES_VERSION"]
    assert labels.get(oci + "source") == s["NEXFLOW_IMAGES_SOURCE"]
    assert labels.get(oci + "licenses") == s["NEXFLOW_IMAGES_LICENSES"]
    assert labels.get(oci + "vendor") == s["NEXFLOW_IMAGES_VENDOR"] == "Nexflow"
    assert labels.get(oci + "created") == created.strftime("%Y-%m-%dT%H:%M:%SZ")  # RFC 3339
    assert labels.get("io.nexflow.runtime") == RUNTIME_OF.get(name, name)
    assert re.fullmatch(r"[0-9a-f]{64}", labels.get("io.nexflow.build-hash", ""))
    if name == "base":
        assert labels.get(oci + "base.name") == "scratch"
    else:
        assert labels.get(oci + "base.name") == tag("base")
        # Built on the base image that is there now, not on an older one.
        assert labels.get("io.nexflow.base.image-id") == inspect("base")["Id"]


@pytest.mark.parametrize("name", RUNTIMES)
def test_latest_tag_is_the_bookworm_image(engine: None, name: str) -> None:
    """nexflow/<runtime>:latest is the same image as nexflow/<runtime>:bookworm."""
    latest = docker("image", "inspect", "--format", "{{.Id}}", f"nexflow/{name}:latest")
    assert latest.strip() == inspect(name)["Id"]


@pytest.mark.parametrize("user", ["default", "65534:65534"])
@pytest.mark.parametrize("name", RUNTIMES)
def test_runtime_runs_a_skill_script(engine: None, tmp_path: Path, name: str, user: str) -> None:
    """The interpreter at the executor's path runs a JSON-in/JSON-out script, confined."""
    inspect(name)
    filename, source = SCRIPTS[name]
    skill = tmp_path / "skill"
    skill.mkdir()
    (skill / filename).write_text(source)
    skill.chmod(0o755)  # the container's user is not the owner of the bind-mounted folder
    (skill / filename).chmod(0o644)
    # The executor's own sandbox uid is 65534 (nobody); the image's default is 1000.
    as_user = [] if user == "default" else ["--user", user]
    out = docker(
        "run", "--rm", "-i", *CONFINED, *as_user,
        "-v", f"{skill}:/skill:ro",
        tag(name), *INTERPRETER[name], f"/skill/{filename}",
        input='{"message": "héllo", "n": [1, 2]}\n',
    )  # fmt: skip
    result = json.loads(out)
    assert result["got"] == {"message": "héllo", "n": [1, 2]}
    assert result["runtime"] == name
    assert result["major"] >= MIN_MAJOR[name]


def test_python_has_its_stdlib_without_site(engine: None) -> None:
    """`python3 -I -S` (how skills run) imports json, sqlite3, ssl, zoneinfo and email."""
    inspect("python")
    code = "import json, sqlite3, ssl, zoneinfo, email.message; print(zoneinfo.ZoneInfo('UTC'))"
    out = docker(
        "run", "--rm", *CONFINED, tag("python"), "/usr/bin/python3", "-I", "-S", "-c", code
    )
    assert out.strip() == "UTC"


def test_python_image_has_pyyaml_with_libyaml(engine: None) -> None:
    """nexflow/python has Debian's PyYAML with the libyaml loader (skills/data-query)."""
    inspect("python")
    code = "import sys; sys.path.append('/usr/lib/python3/dist-packages'); import yaml; "
    code += "print(yaml.load('a: [1]', Loader=yaml.CSafeLoader))"
    out = docker(
        "run", "--rm", *CONFINED, tag("python"), "/usr/bin/python3", "-I", "-S", "-c", code
    )
    assert out.strip() == "{'a': [1]}"


def test_git_image_has_git_and_python(engine: None) -> None:
    """nexflow/git runs git (skills/git-basic) and python3 -I -S, confined, without ssh."""
    inspect("git")
    script = "git --version; python3 -I -S -c 'import json; print(json.dumps([1]))'; "
    script += "command -v ssh || echo no-ssh"
    out = docker("run", "--rm", *CONFINED, tag("git"), "/bin/sh", "-c", script)
    assert out.splitlines()[0].startswith("git version 2.")
    assert out.splitlines()[1:] == ["[1]", "no-ssh"]


def test_bash_image_has_what_shell_skills_use(engine: None) -> None:
    """nexflow/bash has python3 with json (skills/shell-run) and sleep (the executor's idler)."""
    inspect("bash")
    script = 'command -v sleep mktemp; python3 -I -c "import json; print(json.dumps([1]))"'
    out = docker("run", "--rm", *CONFINED, tag("bash"), "/bin/bash", "-c", script)
    assert out.split() == ["/usr/bin/sleep", "/usr/bin/mktemp", "[1]"]


@pytest.mark.parametrize("name", IMAGES)
def test_size_stays_under_its_bound(engine: None, name: str) -> None:
    """The image stays under its size bound (a stray toolchain or docs would break it)."""
    size_mb = inspect(name)["Size"] / 1e6
    assert size_mb < MAX_MB[name], f"{tag(name)} is {size_mb:.0f} MB, bound {MAX_MB[name]} MB"


def test_base_rootfs_rebuilds_byte_for_byte(engine: None, tmp_path: Path) -> None:
    """Rebuilding the base rootfs from the cached debootstrap tree gives the image's layer."""
    if os.geteuid() != 0:
        pytest.skip("rebuilding the rootfs needs root (file owners), like the build itself")
    image = inspect("base")
    cache_dir = Path(os.environ.get("NEXFLOW_CACHE", Path.home() / ".cache/nexflow")) / "images"
    # Docker's and Debian's names agree for amd64 and arm64.
    stage1 = cache_dir / f"debootstrap-{SUITE}-minbase-{image['Architecture']}-v1.tar"
    if not stage1.is_file():
        pytest.fail(f"{stage1} is not cached: {BUILD_HINT}")
    if sha256(stage1) != image["Config"]["Labels"]["io.nexflow.debootstrap.sha256"]:
        pytest.fail(
            f"{stage1} is not the tree {tag('base')} was built from (debootstrap was run "
            "again since): run scripts/build-images.sh --force base"
        )
    out = tmp_path / "rootfs.tar"
    proc = subprocess.run(
        [str(REPO / "skill-images/base/build.sh"), "rootfs", str(out)],
        env={**os.environ, "NEXFLOW_IMAGES_OFFLINE": "1"},  # never debootstrap in a test
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    # docker import stores the tarball unchanged: its sha256 is the layer's diff id.
    assert image["RootFS"]["Layers"] == [f"sha256:{sha256(out)}"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
