"""deploy/compose.yaml as Compose itself reads it (`docker-compose config`): what is
published, who shares a network with whom, who is privileged, and that the control
plane's executor list, the certificates and the executors agree."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

import yaml

from tests.deploy.tools import CHART, COMPOSE_FILE, compose, run


@cache
def config(*profiles: str) -> dict[str, Any]:
    args = [a for p in profiles for a in ("--profile", p)]
    env = {**os.environ, "NEXFLOW_PORT": "18080"}
    out = run([*compose(), "-f", str(COMPOSE_FILE), *args, "config"], env=env)
    return yaml.safe_load(out.stdout)  # type: ignore[no-any-return]


def services() -> dict[str, Any]:
    return config()["services"]  # type: ignore[no-any-return]


def test_only_the_control_plane_publishes_a_port_and_only_on_loopback() -> None:
    """Nothing but the control plane's HTTP port leaves the host's loopback."""
    published = {n: s["ports"] for n, s in services().items() if s.get("ports")}
    assert list(published) == ["control-plane"]
    (port,) = published["control-plane"]
    as_text = port if isinstance(port, str) else f"{port['host_ip']}:{port['published']}:"
    assert as_text.startswith("127.0.0.1:18080:")


def test_networks_keep_the_stores_and_the_executors_apart() -> None:
    """PostgreSQL and OPA sit on an internal network only the control plane joins; the
    executors share a network with the control plane only."""
    nets = {n: set(s.get("networks", {})) for n, s in services().items()}
    assert config()["networks"]["data"]["internal"] is True
    assert nets["postgres"] == nets["opa"] == {"data"}
    assert {n for n, v in nets.items() if "data" in v} == {"postgres", "opa", "control-plane"}
    assert nets["executor-1"] == nets["executor-2"] == {"executors"}
    assert {n for n, v in nets.items() if "executors" in v} == {
        "control-plane",
        "executor-1",
        "executor-2",
    }
    assert services()["certs"]["network_mode"] == "none"


def test_no_container_is_privileged_and_executors_get_the_charts_capabilities() -> None:
    """No service is privileged; the executors get exactly the capabilities the Helm chart
    gives them, and the host's cgroup tree; the control plane drops every capability, has
    a read-only root and no Docker socket."""
    svc = services()
    assert not [n for n, s in svc.items() if s.get("privileged")]
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    for name in ("executor-1", "executor-2"):
        assert svc[name]["cap_drop"] == ["ALL"]
        assert svc[name]["cap_add"] == chart_values["executor"]["capabilities"]
        assert "/sys/fs/cgroup:/sys/fs/cgroup:rw" in svc[name]["volumes"]
    cp = svc["control-plane"]
    assert cp["cap_drop"] == ["ALL"] and "cap_add" not in cp and cp["read_only"] is True
    assert "no-new-privileges:true" in cp["security_opt"]
    mounts = [str(v) for s in svc.values() for v in s.get("volumes", [])]
    assert not [m for m in mounts if "docker.sock" in m]


def test_executors_the_certificates_and_the_control_plane_agree() -> None:
    """Each executor's hostname is a target in NEXFLOW_EXECUTORS and gets a certificate
    from the `certs` service; everything waits for the certificates."""
    svc = services()
    executors = sorted(n for n in svc if n.startswith("executor-"))
    targets = json.loads(svc["control-plane"]["environment"]["NEXFLOW_EXECUTORS"])
    assert targets == [f"{svc[n]['hostname']}:50051" for n in executors]
    certs_script = " ".join(svc["certs"]["command"])
    assert f"for name in control-plane {' '.join(executors)}; do" in certs_script
    for name in ["control-plane", *executors]:
        assert svc[name]["depends_on"]["certs"]["condition"] == "service_completed_successfully"
        env = svc[name]["environment"]
        assert env.get(
            "NEXFLOW_EXECUTOR_TLS__CA_FILE", env.get("NEXFLOW_EXECUTOR_TLS__CLIENT_CA_FILE")
        )
    assert (
        svc["executor-1"]["environment"]["NEXFLOW_EXECUTOR_TLS__CLIENT_IDENTITY"] == "control-plane"
    )


def test_the_gateway_waits_behind_its_profile() -> None:
    """The gateway (no server yet) starts only with `--profile gateway`."""
    assert services()["gateway"]["profiles"] == ["gateway"]
    assert "gateway" in config("gateway")["services"]
