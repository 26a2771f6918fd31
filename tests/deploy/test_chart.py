"""The Helm chart (deploy/helm/nexflow): `helm lint`, `helm template`, and the rendered
manifests checked against the Kubernetes JSON schemas (kubernetes-validate ships them,
so no API server or network is needed) and against what the chart promises: least
privilege, mTLS between the control plane and the executors, NetworkPolicies."""

from __future__ import annotations

import copy
import ipaddress
import json
import os
from base64 import b64decode
from functools import cache
from typing import Any
from unittest.mock import patch

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from nexflow_control.certs import CONTROL_PLANE_ID
from nexflow_control.settings import ExecutorTarget
from nexflow_executor.settings import Settings as ExecutorSettings
from pydantic import TypeAdapter

from tests.deploy.tools import CHART, helm, load_all, run

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate (dev dependency) is not installed"
)

GVISOR_VALUES = CHART.parents[2] / "tests" / "deploy" / "gvisor-values.yaml"
# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest the
# schemas cover: the manifests must be valid for both.
K8S_VERSIONS = ("1.30.0", "1.37.0")
RENDERINGS = {"default": [], "gvisor-3-executors": ["-f", str(GVISOR_VALUES)]}


@cache
def render(name: str) -> tuple[dict[str, Any], ...]:
    return render_with(RENDERINGS[name])


def render_with(args: list[str]) -> tuple[dict[str, Any], ...]:
    out = run([helm(), "template", "nx", str(CHART), "--namespace", "agents", *args])
    return tuple(load_all(out.stdout))


def one(docs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("values", [[], ["-f", str(GVISOR_VALUES)]], ids=["default", "gvisor"])
def test_helm_lint_passes(values: list[str]) -> None:
    """`helm lint --strict` finds nothing wrong with the chart, with default and gVisor values."""
    out = run([helm(), "lint", "--strict", str(CHART), *values])
    assert "0 chart(s) failed" in out.stdout, out.stdout


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", RENDERINGS)
def test_rendered_manifests_match_the_kubernetes_schemas(name: str, version: str) -> None:
    """Every rendered object validates (strict: no unknown field) against the Kubernetes
    schemas of the oldest and newest supported versions."""
    docs = render(name)
    assert len(docs) >= 10
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc}")


def test_the_schema_check_can_fail() -> None:
    """The validation above is not vacuous: a misplaced field in a rendered Deployment
    is refused."""
    deployment = copy.deepcopy(one(render("default"), "Deployment", "nx-nexflow-control-plane"))
    pod_spec(deployment)["containers"][0]["privileged"] = True  # belongs in securityContext
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


def test_control_plane_is_unprivileged_stateless_and_probed_on_health() -> None:
    """The control plane: non-root uid, no capabilities, read-only root, no API token, its
    database URL and admin token from Secrets, readiness on /health."""
    deployment = one(render("default"), "Deployment", "nx-nexflow-control-plane")
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    sc = container["securityContext"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsUser"] == 10001
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in sc
    env = env_of(container)
    assert env["NEXFLOW_DATABASE_URL"]["secretKeyRef"]["key"] == "url"
    assert env["NEXFLOW_ADMIN_TOKEN"]["secretKeyRef"]["key"] == "token"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert deployment["spec"]["replicas"] == 2
    assert "fsGroup" not in spec["securityContext"]
    claims = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
    assert [v["name"] for v in claims] == ["workspace"]  # no state of its own
    assert claims[0]["persistentVolumeClaim"]["readOnly"] is True


@pytest.mark.parametrize("name", RENDERINGS)
def test_control_plane_lists_every_executor_by_its_stable_name(name: str) -> None:
    """NEXFLOW_EXECUTORS names each StatefulSet pod at its headless-Service DNS name and
    gRPC port, one per replica, over mutual TLS with the control plane's mounted files;
    the control plane's settings accept that list."""
    docs = render(name)
    sts = one(docs, "StatefulSet", "nx-nexflow-executor")
    replicas = sts["spec"]["replicas"]
    assert replicas == {"default": 2, "gvisor-3-executors": 3}[name]
    assert one(docs, "Service", "nx-nexflow-executor")["spec"]["clusterIP"] == "None"
    cp = pod_spec(one(docs, "Deployment", "nx-nexflow-control-plane"))["containers"][0]
    targets = json.loads(env_of(cp)["NEXFLOW_EXECUTORS"])
    assert [(t["name"], t["target"]) for t in targets] == [
        (
            f"nx-nexflow-executor-{i}",
            f"nx-nexflow-executor-{i}.nx-nexflow-executor.agents.svc:50051",
        )
        for i in range(replicas)
    ]
    tls = {"ca_file": "ca.crt", "cert_file": "tls.crt", "key_file": "tls.key"}
    mounted = {m["name"]: m["mountPath"] for m in cp["volumeMounts"]}
    for t in targets:
        assert t["tls"] == {k: f"{mounted['tls']}/{f}" for k, f in tls.items()}
    parsed = TypeAdapter(list[ExecutorTarget]).validate_python(
        [{**t, "tls": {k: __file__ for k in tls}} for t in targets]  # files that exist
    )
    assert [p.tls is not None for p in parsed] == [True] * replicas


def _secret_cert(docs: tuple[dict[str, Any], ...], name: str, key: str) -> x509.Certificate:
    data = one(docs, "Secret", name)["data"][key]
    return x509.load_pem_x509_certificate(b64decode(data))


def test_generated_certificates_give_mutual_tls_between_the_two_sides() -> None:
    """The chart's CA signs a client certificate with the identity executors accept and
    an executor server certificate whose names cover every target; each side gets only
    its own key."""
    docs = render("gvisor-3-executors")
    ca = _secret_cert(docs, "nx-nexflow-control-plane-tls", "ca.crt")
    assert ca == _secret_cert(docs, "nx-nexflow-executor-tls", "ca.crt")
    client = _secret_cert(docs, "nx-nexflow-control-plane-tls", "tls.crt")
    server = _secret_cert(docs, "nx-nexflow-executor-tls", "tls.crt")
    for cert in (client, server):
        cert.verify_directly_issued_by(ca)
    sts = one(docs, "StatefulSet", "nx-nexflow-executor")
    env = env_of(pod_spec(sts)["containers"][0])
    client_names = client.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert env["NEXFLOW_EXECUTOR_TCP__CLIENT_NAME"] == CONTROL_PLANE_ID
    assert CONTROL_PLANE_ID in client_names.get_values_for_type(x509.DNSName)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    server_names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "*.nx-nexflow-executor.agents.svc" in server_names.get_values_for_type(x509.DNSName)
    volumes = {v["name"]: v for v in pod_spec(sts)["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "nx-nexflow-executor-tls"
    cp = pod_spec(one(docs, "Deployment", "nx-nexflow-control-plane"))
    cp_volumes = {v["name"]: v for v in cp["volumes"]}
    assert cp_volumes["tls"]["secret"]["secretName"] == "nx-nexflow-control-plane-tls"


def test_executors_get_only_the_capabilities_nsjail_needs_and_grpc_health_probes() -> None:
    """Executors: named capabilities (no privileged container) and the cgroup tree by
    default, privileged only when asked; no API token, gVisor's RuntimeClass when asked
    for, grpc.health.v1 probes."""
    default = pod_spec(one(render("default"), "StatefulSet", "nx-nexflow-executor"))
    assert "runtimeClassName" not in default
    sc = default["containers"][0]["securityContext"]
    assert sc["privileged"] is False and sc["capabilities"]["drop"] == ["ALL"]
    added = set(sc["capabilities"]["add"])
    assert {"SYS_ADMIN", "NET_ADMIN", "SETUID", "SETGID"} <= added
    assert not added & {"SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "SYS_RESOURCE", "ALL"}
    volumes = {v["name"]: v for v in default["volumes"]}
    assert volumes["cgroup"]["hostPath"]["path"] == "/sys/fs/cgroup"
    assert not [v for v in default["volumes"] if "hostPath" in v and v["name"] != "cgroup"]
    docs = render("gvisor-3-executors")
    spec = pod_spec(one(docs, "StatefulSet", "nx-nexflow-executor"))
    assert spec["automountServiceAccountToken"] is False
    assert spec["runtimeClassName"] == "gvisor"
    assert one(docs, "RuntimeClass", "gvisor")["handler"] == "runsc"
    (container,) = spec["containers"]
    assert container["securityContext"]["privileged"] is True
    assert "cgroup" not in {v["name"] for v in spec["volumes"]}
    assert container["image"] == "registry.example.test/nexflow/executor:bookworm"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][-1].endswith("executor-health.py")
    env = env_of(container)
    assert env["NEXFLOW_EXECUTOR_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["NEXFLOW_EXECUTOR_TCP__ADDRESS"] == "0.0.0.0:50051"
    assert json.loads(env["NEXFLOW_EXECUTOR_VOLUMES"]) == {
        "workspace": "/var/lib/nexflow/workspace"
    }
    literal = {k: v for k, v in env.items() if isinstance(v, str)}
    literal["NEXFLOW_EXECUTOR_ID"] = "nx-nexflow-executor-0"
    with patch.dict(os.environ, literal, clear=True):
        built = ExecutorSettings()  # the executor's own settings accept the whole env
    assert built.tcp is not None and built.tcp.client_name == CONTROL_PLANE_ID
    assert built.id == "nx-nexflow-executor-0" and built.max_calls == 8


def test_one_workspace_claim_is_shared_by_the_control_plane_and_every_executor() -> None:
    """The chart makes one ReadWriteMany claim (kept on uninstall); executors mount it
    read-write at the path NEXFLOW_EXECUTOR_VOLUMES names, after an init container with
    CHOWN only hands its root to the sandboxes' uid; the control plane mounts it
    read-only at NEXFLOW_WORKSPACE."""
    docs = render("default")
    claim = one(docs, "PersistentVolumeClaim", "nx-nexflow-workspace")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    sts = pod_spec(one(docs, "StatefulSet", "nx-nexflow-executor"))
    cp = pod_spec(one(docs, "Deployment", "nx-nexflow-control-plane"))
    for spec in (sts, cp):
        (vol,) = [v for v in spec["volumes"] if v["name"] == "workspace"]
        assert vol["persistentVolumeClaim"]["claimName"] == "nx-nexflow-workspace"
    (init,) = sts["initContainers"]
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert init["command"] == ["chown", "65534:65534", "/var/lib/nexflow/workspace"]
    (executor,) = sts["containers"]
    (ws,) = [m for m in executor["volumeMounts"] if m["name"] == "workspace"]
    assert ws["mountPath"] == json.loads(env_of(executor)["NEXFLOW_EXECUTOR_VOLUMES"])["workspace"]
    (cp_ws,) = [m for m in cp["containers"][0]["volumeMounts"] if m["name"] == "workspace"]
    assert cp_ws["readOnly"] is True
    assert cp_ws["mountPath"] == env_of(cp["containers"][0])["NEXFLOW_WORKSPACE"] == ws["mountPath"]
    own = render_with(["--set", "workspace.existingClaim=team-share"])
    assert not [
        d
        for d in own
        if d["kind"] == "PersistentVolumeClaim" and "workspace" in d["metadata"]["name"]
    ]


def _policy(docs: tuple[dict[str, Any], ...], component: str) -> dict[str, Any]:
    return one(docs, "NetworkPolicy", f"nx-nexflow-{component}")["spec"]


def _selects(peer: dict[str, Any], component: str) -> bool:
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    return (
        labels.get("app.kubernetes.io/component") == component and "namespaceSelector" not in peer
    )


@pytest.mark.parametrize("name", RENDERINGS)
def test_network_policies_fence_every_component(name: str) -> None:
    """Default deny; only the control plane reaches executors, OPA and PostgreSQL; executors
    reach DNS and public addresses only (never cluster or private ranges); OPA and
    PostgreSQL reach nothing."""
    docs = render(name)
    deny = one(docs, "NetworkPolicy", "nx-nexflow-default-deny")["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny
    executor = _policy(docs, "executor")
    (ingress,) = executor["ingress"]
    assert len(ingress["from"]) == 1 and _selects(ingress["from"][0], "control-plane")
    for rule in executor["egress"]:
        for peer in rule["to"]:
            if "ipBlock" in peer:
                excluded = [ipaddress.ip_network(c) for c in peer["ipBlock"]["except"]]
                for private in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"):
                    assert ipaddress.ip_network(private) in excluded
            else:  # DNS only
                assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
                assert {p["port"] for p in rule["ports"]} == {53}
    cp_egress = _policy(docs, "control-plane")["egress"]
    reached = {
        peer["podSelector"]["matchLabels"].get("app.kubernetes.io/component")
        for rule in cp_egress
        for peer in rule["to"]
        if "podSelector" in peer
    }
    stores = {"opa", "postgresql"} if name == "default" else {"opa"}
    assert reached == {None, "executor", *stores}  # None: kube-dns
    if name != "default":
        assert {"ipBlock": {"cidr": "10.20.0.5/32"}} in [p for r in cp_egress for p in r["to"]]
    for store in stores:
        spec = _policy(docs, store)
        assert spec["egress"] == []
        assert _selects(spec["ingress"][0]["from"][0], "control-plane")


def test_policies_come_from_a_configmap_when_given() -> None:
    """Policy files given in values become a ConfigMap mounted as the policy directory,
    nested paths restored."""
    docs = render("gvisor-3-executors")
    cm = one(docs, "ConfigMap", "nx-nexflow-policies")
    assert set(cm["data"]) == {"data.json", "nexflow__authz__extra.rego"}
    cp = pod_spec(one(docs, "Deployment", "nx-nexflow-control-plane"))
    (policies,) = [v for v in cp["volumes"] if v["name"] == "policies"]
    paths = {i["path"] for i in policies["configMap"]["items"]}
    assert paths == {"data.json", "nexflow/authz/extra.rego"}
    assert env_of(cp["containers"][0])["NEXFLOW_POLICY_DIR"] == "/etc/nexflow/policies"
    assert not [d for d in render("default") if d["kind"] == "ConfigMap"]
