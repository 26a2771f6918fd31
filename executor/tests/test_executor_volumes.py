"""Volumes: grants name a configured volume and a subpath; the executor resolves them with
realpath and refuses anything that leaves the volume, on both backends."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest
from nexflow.executor.v1 import executor_pb2 as pb

from executor.tests.executor_testkit import (
    NSJAIL_ONLY,
    execute,
    make_dir,
    request,
    status_of,
    write_script,
)

WRITE = """
import os
base = os.environ.get('NEXFLOW_WORKSPACE', '-')
open('/workspace/notes/out.txt', 'w').write('written')
print(base, sorted(os.listdir('/workspace')))
"""


@pytest.fixture
def volume(base_dir: Path, settings) -> Path:
    """A volume `workspace` with a sandbox-writable `notes` folder inside."""
    root = make_dir(base_dir, "ws-root")
    make_dir(root, "notes", sandbox_writable=True)
    settings.volumes = {"workspace": root}
    return root


async def test_a_volume_subpath_is_mounted_and_writable(volume, skill_dir, settings, stub):
    """`workspace` + `notes`, read-write at its default place /workspace/notes (under a
    read-only /workspace of the volume root): the skill writes there, on both backends."""
    script = write_script(skill_dir, "w.py", WRITE)
    mounts = [
        pb.Mount(volume="workspace"),
        pb.Mount(volume="workspace", subpath="notes", writable=True),
    ]
    out = await execute(stub, request(skill_dir, script, mounts=mounts))
    assert out.finished.exit_code == 0, out.stderr
    assert out.stdout == b"/workspace ['notes']\n"
    assert (volume / "notes" / "out.txt").read_text() == "written"


@NSJAIL_ONLY
@pytest.mark.parametrize(
    ("mount", "field", "problem"),
    [
        (pb.Mount(volume="secrets"), "mounts[0].volume", "unknown volume"),
        (pb.Mount(volume="workspace", subpath="/etc"), "mounts[0].subpath", "relative"),
        (pb.Mount(volume="workspace", subpath="notes/../.."), "mounts[0].subpath", "'..'"),
        (pb.Mount(volume="workspace", subpath="out"), "mounts[0].subpath", "outside volume"),
        (pb.Mount(volume="workspace", subpath="nope"), "mounts[0].subpath", "cannot be resolved"),
        (pb.Mount(host_path="/srv", volume="workspace"), "mounts[0]", "exactly one"),
        (pb.Mount(host_path="/srv", subpath="x"), "mounts[0].subpath", "only with volume"),
    ],
)
async def test_a_volume_grant_that_leaves_its_root_is_refused(
    volume, base_dir, skill_dir, stub, mount, field, problem
):
    """Unknown volume, absolute or `..` subpath, a symlink inside the volume pointing out
    of it, a missing subpath, both sources: INVALID_ARGUMENT naming the field; nothing runs."""
    outside = make_dir(base_dir, "outside")
    os.symlink(outside, volume / "out")
    marker = outside / "ran"
    script = write_script(skill_dir, "m.py", f"open({str(marker)!r}, 'w')")
    error = await status_of(execute(stub, request(skill_dir, script, mounts=[mount])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith(field) and problem in error.details(), error.details()
    assert not marker.exists()


@NSJAIL_ONLY
async def test_a_volume_holding_the_executor_state_is_refused(skill_dir, settings, stub):
    """A volume configured over a directory that contains the executor's state (bundles,
    socket) is refused like such a host path: no grant reaches the cache."""
    settings.volumes = {"everything": settings.state_dir.parent}
    script = write_script(skill_dir, "m.py", "print(1)")
    error = await status_of(
        execute(stub, request(skill_dir, script, mounts=[pb.Mount(volume="everything")]))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "forbidden" in error.details()
