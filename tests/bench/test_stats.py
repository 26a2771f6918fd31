"""bench/stats.py: reading a process's CPU time from /proc."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.stats import proc_stat, tree_cpu_ms


def test_proc_stat_reads_parent_and_ticks_past_an_odd_name() -> None:
    """A name with spaces and ')' does not shift the fields; ticks are utime..cstime."""
    text = "42 (a) b (c)) S 7 42 42 0 -1 4194304 10 0 0 0 3 4 5 6 20 0 1 0 100 0 0\n"
    assert proc_stat(text) == (7, 3 + 4 + 5 + 6)


def test_tree_cpu_ms_counts_a_busy_child() -> None:
    """A child that burns CPU raises its parent's tree count by about that much."""
    before = tree_cpu_ms(os.getpid())
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    assert tree_cpu_ms(os.getpid()) - before >= 250
