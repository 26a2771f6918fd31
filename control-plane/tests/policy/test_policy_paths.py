"""Filesystem grants and call paths: escapes are denied with path_outside_grant."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nexflow_control.policy import EmbeddedEngine, FilesystemGrant

Inputs = Callable[..., dict[str, Any]]


def _with_paths(item: dict[str, Any], *paths: tuple[str, str]) -> dict[str, Any]:
    item["call"]["paths"] = [
        {"field": "path", "value": "x", "resolved": resolved, "access": access}
        for resolved, access in paths
    ]
    return item


def _realpath(path: str | Path) -> str:
    """What the control plane does: resolve symlinks and '..' before asking the policy."""
    return os.path.realpath(path)


def _fs_input(inputs: Inputs, workspace: str, mode: str = "rw") -> dict[str, Any]:
    item = inputs(["user"], ["filesystem"], filesystem=[{"path": workspace, "mode": mode}])
    item["context"]["workspace"] = workspace
    return item


async def test_path_inside_workspace_is_allowed(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A read of a file inside the granted workspace is allowed with that grant."""
    d = await engine.decide(_with_paths(_fs_input(inputs, "/ws"), ("/ws/notes/a.txt", "read")))
    assert d.allow
    assert d.grants.filesystem == (FilesystemGrant("/ws", "rw"),)


async def test_etc_shadow_is_outside_grant(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """/etc/shadow as a call path is denied with path_outside_grant."""
    d = await engine.decide(_with_paths(_fs_input(inputs, "/ws"), ("/etc/shadow", "read")))
    assert not d.allow and d.codes == ("path_outside_grant",)


async def test_dotdot_escape_is_denied(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """'../etc/x' resolved by realpath against the workspace lands outside and is denied."""
    resolved = _realpath(os.path.join("/ws", "../etc/x"))
    d = await engine.decide(_with_paths(_fs_input(inputs, "/ws"), (resolved, "read")))
    assert d.codes == ("path_outside_grant",)


async def test_unresolved_dotdot_is_malformed(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A resolved path still holding '..' is refused as malformed, never prefix-matched."""
    d = await engine.decide(_with_paths(_fs_input(inputs, "/ws"), ("/ws/../etc/x", "read")))
    assert d.codes == ("malformed_input",)


async def test_symlink_out_of_workspace_is_denied(
    engine: EmbeddedEngine, inputs: Inputs, tmp_path: Path
) -> None:
    """A symlink inside the workspace pointing outside resolves outside and is denied."""
    workspace = tmp_path / "ws"
    outside = tmp_path / "secret"
    workspace.mkdir()
    outside.mkdir()
    (workspace / "link").symlink_to(outside)
    ws = _realpath(workspace)
    resolved = _realpath(workspace / "link" / "key")
    d = await engine.decide(_with_paths(_fs_input(inputs, ws), (resolved, "read")))
    assert d.codes == ("path_outside_grant",)


async def test_sibling_prefix_is_outside(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """/ws-evil shares the prefix of /ws but is not inside it."""
    d = await engine.decide(_with_paths(_fs_input(inputs, "/ws"), ("/ws-evil/x", "read")))
    assert d.codes == ("path_outside_grant",)


async def test_sibling_prefix_request_is_denied(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A skill asking for /ws-evil when the root is /ws is denied filesystem_not_allowed."""
    item = _fs_input(inputs, "/ws")
    item["skill"]["filesystem"] = [{"path": "/ws-evil", "mode": "ro"}]
    d = await engine.decide(item)
    assert d.codes == ("filesystem_not_allowed",)


async def test_write_needs_rw_grant(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A write path under a read-only grant is denied; under rw it is allowed."""
    ro = await engine.decide(_with_paths(_fs_input(inputs, "/ws", "ro"), ("/ws/a", "write")))
    rw = await engine.decide(_with_paths(_fs_input(inputs, "/ws", "rw"), ("/ws/a", "write")))
    assert ro.codes == ("path_outside_grant",) and rw.allow


async def test_rw_request_under_ro_root_is_downgraded(policy_copy: Path, inputs: Inputs) -> None:
    """With an ro-only root, a rw request is granted ro (downgrade, not deny)."""
    data = policy_copy / "data.json"
    data.write_text(
        data.read_text().replace('"${workspace}", "mode": "rw"', '"${workspace}", "mode": "ro"')
    )
    engine = EmbeddedEngine(policy_copy)
    d = await engine.decide(_fs_input(inputs, "/ws", "rw"))
    assert d.allow and d.grants.filesystem == (FilesystemGrant("/ws", "ro"),)
