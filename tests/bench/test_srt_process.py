"""bench/srt_process.py: counting a child's CPU in a cgroup of its own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.srt_process import cpu_account, timed

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


@pytest.mark.nsjail  # writes cgroups, as the nsjail backend does
def test_cpu_account_counts_a_grandchild_and_removes_its_cgroup(tmp_path: Path) -> None:
    """A process the command starts is counted; the cgroup is gone afterwards."""
    inner = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURN!r}])"
    with cpu_account("test") as (inside, used):
        group = Path(inside[-1]).parent
        before = used()
        timed([*inside, sys.executable, "-c", inner], tmp_path, b"", b"")
        assert used() - before >= 250
    assert not group.exists()
