"""The generated half of the engine conformance corpus (the other half: ``cases/*.json``).

Deterministic, no randomness: every case is a named combination built from the policy
configuration the policy directory holds *now* (``data.json``: roles, permission
classes, approval classes, limit names and ceilings, network allowlist), so the corpus
follows the model as it changes: a new role or limit adds cases by itself.

    generate(policy_dir) -> {case name: policy input}

``network_cases()`` are meant for ``with_allowlist(...)``, a copy of the policy whose
network allowlist is not empty (the shipped one is), so that grants are compared too.

Dimensions: every role (plus an unknown one, none, all at once), every role with every
permission class, approval on and off, filesystem requests and call paths inside and
outside the roots (sibling prefixes, ``..``, ``/``), network hosts (allowlisted or not,
malformed), every limit below, at and above its ceiling, sandbox backends, and edge
cases: empty lists, unicode names, missing sections and fields, wrong types, nulls,
huge inputs (thousands of entries, long strings, deep nesting).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from tests.policy_input import WORKSPACE, policy_input


def base(roles: list[str] | None = None, permissions: list[str] | None = None) -> dict[str, Any]:
    """A well-formed input: principal ``alice`` calling ``file-read``."""
    return policy_input(roles, permissions)


def _with(item: dict[str, Any], section: str, **fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(item)
    out[section].update(fields)
    return out


def _roles(cfg: dict[str, Any], cases: dict[str, Any]) -> list[str]:
    roles = sorted(cfg.get("roles", {}))
    classes = list(cfg.get("permission_classes", []))
    for role in [*roles, "ghost"]:
        cases[f"role/{role}"] = base([role])
        cases[f"role/{role}/all-classes"] = base([role], classes)
        for permission in classes:
            cases[f"role/{role}/{permission}"] = base([role], [permission])
            for approved in (False, True):
                item = _with(base([role], [permission]), "context", approved=approved)
                cases[f"approval/{role}/{permission}/approved={approved}"] = item
    cases["role/none"] = base([])
    cases["role/all"] = base(roles, classes)
    cases["role/unknown-and-known"] = base(["ghost", *roles[:1]])
    return roles


def _filesystem(cases: dict[str, Any]) -> None:
    requests = {
        "workspace-rw": (WORKSPACE, "rw"),
        "workspace-ro": (WORKSPACE, "ro"),
        "inside-rw": (WORKSPACE + "/notes", "rw"),
        "outside-etc": ("/etc", "ro"),
        "sibling-prefix": (WORKSPACE + "-evil", "ro"),
        "root": ("/", "ro"),
        "dotdot": (WORKSPACE + "/../secret", "ro"),
        "relative": ("notes", "ro"),
        "bad-mode": (WORKSPACE, "rwx"),
    }
    for role in ("user", "admin", "viewer"):
        for label, (path, mode) in requests.items():
            cases[f"fs/{role}/{label}"] = _with(
                base([role], ["filesystem"]), "skill", filesystem=[{"path": path, "mode": mode}]
            )
    granted = _with(
        base(["user"], ["filesystem"]), "skill", filesystem=[{"path": WORKSPACE, "mode": "ro"}]
    )
    paths = {
        "read-inside": (WORKSPACE + "/a.txt", "read"),
        "write-in-ro": (WORKSPACE + "/a.txt", "write"),
        "read-outside": ("/etc/shadow", "read"),
        "read-sibling": (WORKSPACE + "-evil/a", "read"),
        "dotdot": (WORKSPACE + "/../../etc/shadow", "read"),
        "bad-access": (WORKSPACE + "/a", "exec"),
    }
    for label, (resolved, access) in paths.items():
        entry = {"field": "path", "value": "a", "resolved": resolved, "access": access}
        cases[f"paths/{label}"] = _with(granted, "call", paths=[entry])


def _network(cfg: dict[str, Any], cases: dict[str, Any]) -> None:
    allowed = [h.replace(":*", ":443") for h in cfg.get("network", {}).get("allowed_hosts", [])]
    hosts = ["api.github.com:443", "EXAMPLE.com:80", "localhost:8080", *allowed[:3]]
    for role in ("operator", "user", "admin"):
        for host in hosts:
            cases[f"net/{role}/{host}"] = _with(base([role], ["network"]), "skill", network=[host])
    for label, host in {
        "no-port": "example.com",
        "space": "bad host:80",
        "port-6": "x:123456",
    }.items():
        cases[f"net/malformed/{label}"] = _with(base(["operator"]), "skill", network=[host])


ALLOWLIST = ["api.github.com:443", "*.example.com", "localhost:*", "[fd00::1]:8080", "pypi.org"]
"""The allowlist of the ``with_allowlist`` policy copy (the shipped one is empty)."""


CONFIGURED = {
    "principals": {
        "carol": {"roles": ["operator"]},
        "dave": {"roles": ["user"], "rate_limit": {"per_minute": 2, "per_hour": 5}},
        "erin": {"rate_limit": None},
    },
    "skills": {
        "file-read": {"allowed_hosts": ["files.example.net"], "limits": {"defaults": {"pids": 8}}},
        "file-write": {"roles": ["operator"], "require_approval": True},
        "shell-run": {"enabled": False},
        "sync": {
            "trusted": True,
            "filesystem_roots": [{"path": "/srv/sync", "mode": "rw"}],
            "limits": {"ceilings": {"memory_bytes": 1048576}},
        },
    },
    "extra_roots": [{"path": "/srv/data", "mode": "rw"}, {"path": "/srv/ro", "mode": "ro"}],
    "secret_grants": [
        {"secret": "github_token", "skills": ["file-read"], "principals": [], "roles": ["admin"]},
        {"secret": "smtp_password", "skills": ["*"], "principals": ["carol"], "roles": []},
        {"secret": "db_password", "skills": ["sync"], "principals": ["alice"], "roles": ["user"]},
    ],
}
"""The optional parts of the model that the ``with_allowlist`` copy configures."""


def with_allowlist(policy_dir: Path, target: Path) -> Path:
    """A copy of ``policy_dir`` in ``target`` whose network allowlist is ``ALLOWLIST`` and
    which configures principals, per-skill overrides and extra roots (``CONFIGURED``)."""
    shutil.copytree(policy_dir, target)
    data = json.loads((target / "data.json").read_text())
    cfg = data["nexflow"]["config"]
    cfg["network"]["allowed_hosts"] = ALLOWLIST
    cfg["principals"] = CONFIGURED["principals"]
    cfg["skills"] = CONFIGURED["skills"]
    cfg["filesystem"]["roots"] = [*cfg["filesystem"]["roots"], *CONFIGURED["extra_roots"]]
    cfg["secrets"] = {"grants": CONFIGURED["secret_grants"]}
    (target / "data.json").write_text(json.dumps(data))
    return target


def model_cases() -> dict[str, Any]:
    """Principals, per-skill overrides and roots outside the workspace, for ``with_allowlist``."""
    cases: dict[str, Any] = {}
    for who in ("carol", "dave", "erin", "alice"):
        for roles in ([], ["user"]):
            for minute, hour in ((0, 0), (2, 2), (59, 4), (70, 70), (0, 6000)):
                item = policy_input(roles, principal=who)
                item["context"]["rate"] = {"minute": minute, "hour": hour}
                cases[f"model/{who}/{'+'.join(roles) or 'none'}/rate-{minute}-{hour}"] = item
    for skill in ("file-read", "file-write", "shell-run", "sync", "other"):
        for roles in (["user"], ["operator"], ["admin"]):
            item = policy_input(roles, ["filesystem"], name=skill, source="user", publisher="x")
            for runs in (0, 1):
                runs_item = copy.deepcopy(item)
                runs_item["context"]["skill_runs"] = runs
                cases[f"model/skill/{skill}/{roles[0]}/runs-{runs}"] = runs_item
            for path, mode in (
                ("/srv/data", "rw"),
                ("/srv/data", "ro"),
                ("/srv/ro", "rw"),
                ("/srv/sync/x", "rw"),
                (WORKSPACE + "/sub", "rw"),
            ):
                fs = _with(item, "skill", filesystem=[{"path": path, "mode": mode}])
                cases[f"model/skill/{skill}/{roles[0]}/fs-{path}-{mode}"] = fs
            net = _with(item, "skill", network=["files.example.net:443"], permissions=["network"])
            cases[f"model/skill/{skill}/{roles[0]}/net"] = net
            for name, value in (("memory_bytes", 1048577), ("pids", 8)):
                limits = _with(item, "skill", limits={name: value})
                cases[f"model/skill/{skill}/{roles[0]}/limit-{name}-{value}"] = limits
            for names in (["github_token"], ["smtp_password"], ["db_password", "github_token"]):
                for who in ("alice", "carol"):
                    asked = policy_input(
                        roles, ["secrets"], name=skill, principal=who, secrets=names
                    )
                    cases[f"model/skill/{skill}/{roles[0]}/{who}/secrets-{'+'.join(names)}"] = asked
                    optional = policy_input(
                        roles, [], name=skill, principal=who, optional_secrets=names
                    )
                    label = f"optional-{'+'.join(names)}"
                    cases[f"model/skill/{skill}/{roles[0]}/{who}/{label}"] = optional
            both = policy_input(
                roles,
                ["secrets"],
                name=skill,
                secrets=["smtp_password"],
                optional_secrets=["github_token", "db_password"],
            )
            cases[f"model/skill/{skill}/{roles[0]}/secrets-and-optional"] = both
    for bad in (["GITHUB"], ["1x"], [""], [7], "github_token", ["a" * 64]):
        cases[f"model/secrets/malformed/{bad!r:.40}"] = policy_input(["admin"], secrets=bad)
        cases[f"model/optional_secrets/malformed/{bad!r:.40}"] = policy_input(
            ["admin"], optional_secrets=bad
        )
    return cases


def network_cases() -> dict[str, Any]:
    """Endpoint forms on both sides of the allowlist, as skill.network and call.hosts."""
    cases: dict[str, Any] = {}
    requests = [
        "api.github.com:443",
        "API.GITHUB.COM:443",
        "api.github.com:80",
        "api.github.com",
        "www.example.com:443",
        "a.b.example.com",
        "example.com:443",
        "evil-example.com:443",
        "localhost:1",
        "localhost:65535",
        "[fd00::1]:8080",
        "[fd00::1]:80",
        "pypi.org",
        "pypi.org:443",
        "pypi.org:8443",
        "10.0.0.1:80",
        "*.example.com",
        "host:*",
    ]
    for role in ("operator", "user"):
        for host in requests:
            cases[f"allowlist/{role}/skill/{host}"] = _with(
                base([role], ["network"]), "skill", network=[host]
            )
    calls = {
        "github": ("api.github.com", 443),
        "sub": ("x.example.com", 8443),
        "not-listed": ("evil.test", 443),
        "port-0": ("pypi.org", 0),
        "port-high": ("pypi.org", 70000),
        "port-string": ("pypi.org", "443"),
        "bad-host": ("not a host", 443),
    }
    for label, (host, port) in calls.items():
        entry = {"field": "url", "host": host, "port": port}
        for role in ("operator", "user"):
            cases[f"allowlist/{role}/call/{label}"] = _with(
                base([role], ["network"]), "call", hosts=[entry]
            )
    cases["allowlist/both"] = _with(
        _with(base(["operator"], ["network"]), "skill", network=["pypi.org:443"]),
        "call",
        hosts=[{"field": "url", "host": "api.github.com", "port": 443}],
    )
    return cases


def _limits(cfg: dict[str, Any], cases: dict[str, Any]) -> None:
    ceilings = cfg.get("limits", {}).get("ceilings", {})
    for name, ceiling in sorted(ceilings.items()):
        for label, value in {"below": ceiling - 1, "at": ceiling, "above": ceiling + 1}.items():
            cases[f"limits/{name}/{label}"] = _with(base(), "skill", limits={name: value})
    weird = {
        "zero": 0,
        "negative": -5,
        "fraction": 1.5,
        "string": "10",
        "null": None,
        "huge": 2**62,
        "bigger-than-int64": 10**30,
        "float-int": 64.0,
    }
    for label, value in weird.items():
        cases[f"limits/pids/{label}"] = _with(base(), "skill", limits={"pids": value})
    cases["limits/unknown-name"] = _with(base(), "skill", limits={"gpus": 1})
    for backend in ("docker", "nsjail", "firecracker", "", None):
        cases[f"backend/{backend}"] = _with(base(), "skill", backend=backend)


def _edges(cases: dict[str, Any]) -> None:
    cases["edge/empty-lists"] = _with(
        base(["user"]), "skill", permissions=[], tags=[], filesystem=[], network=[]
    )
    cases["edge/unicode-principal"] = _with(base(["user"]), "principal", id="ユーザー✓")
    cases["edge/unicode-role"] = base(["管理者"])
    cases["edge/unicode-skill"] = _with(base(["admin"]), "skill", name="fïle-read")
    cases["edge/emoji-path"] = _with(
        base(["user"], ["filesystem"]),
        "skill",
        filesystem=[{"path": WORKSPACE + "/📁", "mode": "ro"}],
    )
    for section in ("principal", "skill", "call", "context"):
        item = base(["admin"])
        del item[section]
        cases[f"missing/{section}"] = item
        cases[f"null/{section}"] = {**base(["admin"]), section: None}
        cases[f"wrong-type/{section}"] = {**base(["admin"]), section: [section]}
    for section, fields in {
        "principal": ("id", "roles"),
        "skill": ("name", "version", "digest", "source", "permissions"),
        "call": ("id", "paths"),
        "context": ("workspace", "approved", "rate", "skill_runs"),
    }.items():
        for name in fields:
            item = base(["admin"])
            del item[section][name]
            cases[f"missing/{section}.{name}"] = item
            cases[f"null/{section}.{name}"] = _with(base(["admin"]), section, **{name: None})
            cases[f"wrong-type/{section}.{name}"] = _with(base(["admin"]), section, **{name: 42})
    cases["edge/empty-object"] = {}
    cases["edge/extra-fields"] = {**base(), "extra": {"nested": [1, 2, {"x": None}]}}
    cases["edge/workspace-root"] = _with(base(["user"]), "context", workspace="/")
    cases["edge/workspace-trailing-slash"] = _with(
        base(["user"]), "context", workspace=WORKSPACE + "/"
    )


def _huge(cases: dict[str, Any]) -> None:
    many = 2000
    # rego-cpp (the embedded engine) is quadratic in the network and filesystem lists:
    # 1000 entries take ~2.5 s there (~0.07 s on OPA), 2000 take ~11 s.
    requests = 1000
    cases["huge/roles"] = base([f"role-{i}" for i in range(many)] + ["user"])
    cases["huge/permissions"] = base(["admin"], ["filesystem"] * many)
    cases["huge/network"] = _with(
        base(["operator"], ["network"]),
        "skill",
        network=[f"h{i}.example.com:{i % 65535 + 1}" for i in range(requests)],
    )
    cases["huge/filesystem"] = _with(
        base(["user"], ["filesystem"]),
        "skill",
        filesystem=[{"path": f"{WORKSPACE}/d{i}", "mode": "ro"} for i in range(requests)],
    )
    entries = [
        {"field": f"f{i}", "value": "v", "resolved": f"{WORKSPACE}/f{i}", "access": "read"}
        for i in range(many)
    ]
    cases["huge/paths"] = _with(
        _with(
            base(["user"], ["filesystem"]), "skill", filesystem=[{"path": WORKSPACE, "mode": "rw"}]
        ),
        "call",
        paths=entries,
    )
    cases["huge/long-principal-id"] = _with(base(["user"]), "principal", id="p" * 200_000)
    cases["huge/long-skill-name"] = _with(base(["user"]), "skill", name="s" * 50_000)
    cases["huge/long-path"] = _with(
        base(["user"], ["filesystem"]),
        "skill",
        filesystem=[{"path": WORKSPACE + "/x" * 20_000, "mode": "ro"}],
    )
    deep: Any = "bottom"
    for _ in range(200):
        deep = {"d": [deep]}
    cases["huge/deep-nesting"] = {**base(["user"]), "extra": deep}


def _approvals_and_rates(cfg: dict[str, Any], cases: dict[str, Any]) -> None:
    sources = [*cfg.get("publishers", {}).get("trusted_sources", []), "user", "extra"]
    publishers = [*cfg.get("publishers", {}).get("trusted", []), "someone", None]
    for source in sources:
        for publisher in publishers:
            for verified in (False, True):
                for runs in (0, 1):
                    item = policy_input(
                        ["user"], source=source, publisher=publisher, publisher_verified=verified
                    )
                    item["context"]["skill_runs"] = runs
                    label = f"{source}/{publisher}/verified={verified}/runs={runs}"
                    cases[f"publisher/{label}"] = item
    for role, spec in sorted(cfg.get("roles", {}).items()):
        limit = spec.get("rate_limit") or {}
        for window, counter in (("per_minute", "minute"), ("per_hour", "hour")):
            cap = limit.get(window)
            for used in {0, 1_000_000} | ({cap - 1, cap, cap + 1} if cap else set()):
                if used < 0:
                    continue
                item = policy_input([role])
                item["context"]["rate"] = {"minute": 0, "hour": 0, counter: used}
                cases[f"rate/{role}/{counter}/{used}"] = item
    for label, value in {"negative": -1, "fraction": 0.5, "string": "1", "null": None}.items():
        item = policy_input(["user"])
        item["context"]["rate"] = {"minute": value, "hour": 0}
        cases[f"rate/malformed/{label}"] = item
        runs = policy_input(["user"])
        runs["context"]["skill_runs"] = value
        cases[f"skill-runs/malformed/{label}"] = runs
    outside = _with(
        base(["admin"], ["filesystem"]), "skill", filesystem=[{"path": "/srv", "mode": "rw"}]
    )
    cases["approval/write-outside-workspace-denied-by-roots"] = outside


def generate(policy_dir: Path) -> dict[str, Any]:
    """Every generated case, by name, from the configuration in ``policy_dir/data.json``."""
    data = json.loads((policy_dir / "data.json").read_text())
    cfg: dict[str, Any] = data.get("nexflow", {}).get("config", {})
    cases: dict[str, Any] = {}
    _roles(cfg, cases)
    _filesystem(cases)
    _network(cfg, cases)
    _limits(cfg, cases)
    _approvals_and_rates(cfg, cases)
    _edges(cases)
    _huge(cases)
    return cases
