"""What an update asks for beyond the approved request: read from real SKILL.md files."""

from __future__ import annotations

from pathlib import Path

from nexflow_control.marketplace import SkillRequest, added, request_of
from nexflow_control.skills import load_skill

BASE = """\
---
name: probe
description: A probe.
version: {version}
location: ./run.py
runtime: {runtime}
permissions: [{permissions}]
requirements:
  env: [{env}]
sandbox:
  network: [{hosts}]
  filesystem: [{paths}]
---
"""


def _request(tmp: Path, version: str, **fields: str) -> SkillRequest:
    folder = tmp / version / "probe"
    folder.mkdir(parents=True)
    values = {"runtime": "python", "permissions": "", "env": "", "hosts": "", "paths": ""}
    values.update(fields)
    (folder / "SKILL.md").write_text(BASE.format(version=version, **values))
    (folder / "run.py").write_text("print('{}')\n")
    loaded = load_skill(folder)
    assert loaded.skill is not None, loaded.diagnostics
    return request_of(loaded.skill)


def test_each_kind_of_new_request_is_in_the_diff(tmp_path: Path) -> None:
    """A new host, a path turned read-write, a permission class, a secret and another
    runtime each show up as added; what was already approved does not."""
    old = _request(
        tmp_path,
        "1.0.0",
        permissions="network, filesystem",
        hosts="a.example.com",
        paths='{path: "${workspace}/in", mode: ro}',
    )
    new = _request(
        tmp_path,
        "1.1.0",
        runtime="bash",
        permissions="network, filesystem, secrets",
        env="API_TOKEN",
        hosts="a.example.com, b.example.com",
        paths='{path: "${workspace}/in", mode: rw}',
    )
    diff = added(old, new)
    assert diff.lines() == [
        "+ host b.example.com",
        "+ path ${workspace}/in (rw)",
        "+ permission secrets",
        "+ secret API_TOKEN",
        "+ runtime bash",
    ]
    assert added(new, old).hosts == [] and added(old, old).empty


def test_asking_for_less_needs_no_consent(tmp_path: Path) -> None:
    """An update that drops a host and a permission asks for nothing new."""
    old = _request(tmp_path, "1.0.0", permissions="network", hosts="a.example.com")
    new = _request(tmp_path, "1.1.0")
    assert added(old, new).empty
