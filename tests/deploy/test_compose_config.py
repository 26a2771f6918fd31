"""deploy/compose.yaml as Compose itself reads it (`docker-compose config`): what is
published, who shares a network with whom, who is privileged, and that the control
plane's executor list, the certificates and the executors agree."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any
from unittest.mock import patch

import yaml
from nexflow_control.settings import Settings as ControlSettings
from nexflow_executor.settings import Settings as ExecutorSettings
from pydantic import BaseModel

from tests.deploy.tools import CHART, COMPOSE_FILE, compose, run


@cache
def config(*profiles: str) -> dict[str, Any]:
    args = [a for p in profiles for a in ("--profile", p)]
    env = {**os.environ, "NEXFLOW_PORT": "18080"}
    out = run([*compose(), "-f", str(COMPOSE_FILE), *args, "config"], env=env)
    return yaml.safe_load(out.stdout)  # type: ignore[no-any-return]


def mounts(service: dict[str, Any]) -> set[tuple[str, str]]:
    """(source, target) of each volume, whichever way this Compose renders them."""
    found = set()
    for v in service.get("volumes", []):
        if isinstance(v, str):
            source, target = v.split(":")[:2]
        else:
            source, target = v["source"], v["target"]
        found.add((source, target))
    return found


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
    assert services()["init"]["network_mode"] == "none"


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
    """Each executor is a mutual-TLS target in NEXFLOW_EXECUTORS under its hostname, gets
    a certificate from `nexflow certs` in the `init` service, accepts only the control
    plane's identity, and shares the `workspace` volume at the control plane's path."""
    svc = services()
    executors = sorted(n for n in svc if n.startswith("executor-"))
    cp_env = svc["control-plane"]["environment"]
    targets = json.loads(cp_env["NEXFLOW_EXECUTORS"])
    assert [(t["target"], t["name"]) for t in targets] == [
        (f"{svc[n]['hostname']}:50051", n) for n in executors
    ]
    for t in targets:
        assert set(t["tls"]) == {"ca_file", "cert_file", "key_file"}
    init = svc["init"]
    assert init["environment"]["EXECUTORS"].split() == executors
    script = " ".join(init["command"])
    assert "nexflow certs init" in script and "nexflow certs issue control-plane" in script
    assert "openssl" not in script
    workspace = cp_env["NEXFLOW_WORKSPACE"]
    assert ("workspace", workspace) in mounts(svc["control-plane"])
    for name in ["control-plane", *executors]:
        assert svc[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    for name in executors:
        env = svc[name]["environment"]
        assert env["NEXFLOW_EXECUTOR_ID"] == name
        assert env["NEXFLOW_EXECUTOR_TCP__CLIENT_NAME"] == "nexflow-control-plane"
        assert env["NEXFLOW_EXECUTOR_TCP__CLIENT_CA_FILE"] == targets[0]["tls"]["ca_file"]
        assert env["NEXFLOW_EXECUTOR_TCP__CERT_FILE"].endswith(f"/{name}.pem")
        assert json.loads(env["NEXFLOW_EXECUTOR_VOLUMES"]) == {"workspace": workspace}
        assert ("workspace", workspace) in mounts(svc[name])


def test_the_gateway_waits_behind_its_profile() -> None:
    """The gateway (no server yet) starts only with `--profile gateway`."""
    assert services()["gateway"]["profiles"] == ["gateway"]
    assert "gateway" in config("gateway")["services"]


def _unknown_names(env: dict[str, str], prefix: str, model: type[BaseModel]) -> list[str]:
    """The variables in `env` under `prefix` that name no field of `model` (nested `__`)."""
    unknown = []
    for var in env:
        if not var.startswith(prefix):
            continue
        fields: type[BaseModel] | None = model
        for part in var[len(prefix) :].lower().split("__"):
            info = fields.model_fields.get(part) if fields is not None else None
            if info is None:
                unknown.append(var)
                break
            kinds = [info.annotation, *getattr(info.annotation, "__args__", ())]
            fields = next(
                (k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None
            )
    return unknown


def test_every_setting_name_is_one_the_services_read() -> None:
    """Every NEXFLOW_* variable Compose sets is a field of the control plane's or the
    executor's settings (a misspelt one would be silently ignored), and the executor's
    environment builds its settings, TCP with mutual TLS included."""
    svc = services()
    assert not _unknown_names(svc["control-plane"]["environment"], "NEXFLOW_", ControlSettings)
    for name in ("executor-1", "executor-2"):
        env = svc[name]["environment"]
        assert not _unknown_names(env, "NEXFLOW_EXECUTOR_", ExecutorSettings)
        with patch.dict(os.environ, env, clear=True):
            built = ExecutorSettings()
        assert built.tcp is not None and built.tcp.address == "0.0.0.0:50051"
        assert built.id == name and built.max_calls == 8


def test_the_name_check_can_fail() -> None:
    """A misspelt or guessed variable is caught by the check above."""
    env = {"NEXFLOW_EXECUTOR_TLS__CLIENT_IDENTITY": "x", "NEXFLOW_EXECUTOR_TCP__ADDRESS": "a:1"}
    assert _unknown_names(env, "NEXFLOW_EXECUTOR_", ExecutorSettings) == [
        "NEXFLOW_EXECUTOR_TLS__CLIENT_IDENTITY"
    ]
    assert _unknown_names({"NEXFLOW_EXECUTOR_TLS__CA_FILE": "x"}, "NEXFLOW_", ControlSettings)
