"""A child process that ends when the process that started it dies (Linux).

The parent puts `parent_env()` in the child's environment; the child calls
`die_with_parent()` first thing in its `main`. The child asks the kernel itself
(`PR_SET_PDEATHSIG`) instead of the parent doing it in a `preexec_fn`: Python code run
between fork and exec in a parent with threads (gRPC's, the database's) can deadlock in
the child before it ever execs, and without a `preexec_fn` no Python code runs there.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PARENT_ENV = "NEXFLOW_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def parent_env() -> dict[str, str]:
    """What a child's environment needs to end with this process."""
    return {PARENT_ENV: str(os.getpid())}


def die_with_parent() -> None:
    """SIGTERM this process when the parent named by `NEXFLOW_PARENT_PID` dies, or now
    if it already has. The variable is taken out of the environment: a grandchild is
    not bound to it. Without it, or off Linux, nothing changes."""
    named = os.environ.pop(PARENT_ENV, "")
    if not named.isdigit() or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != int(named):  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
