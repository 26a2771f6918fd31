"""Builds the in-container launcher (launcher.c) once, as a static binary, and caches it.

The binary lands under the executor's state directory, named by the digest of its source
and owned by root with mode 0111: bind-mounted into a container, the sandbox uid can
execute it but not read it (the kernel then also marks the launcher non-dumpable). A
static build needs a C compiler and the static C library (Debian: gcc, libc6-dev).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from nexflow_executor.errors import BackendUnavailable

__all__ = ["SOURCE", "build_launcher"]

SOURCE = Path(__file__).with_name("launcher.c")
_MODE = 0o111


def build_launcher(state_dir: Path) -> Path:
    """The launcher binary for the current source, compiled now if not yet cached."""
    source = SOURCE.read_bytes()
    target = state_dir / "launcher" / f"nexflow-launch-{hashlib.sha256(source).hexdigest()[:16]}"
    if target.is_file() and (target.stat().st_mode & 0o777) == _MODE:
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise BackendUnavailable(
            "the Docker backend builds its launcher with a C compiler: install gcc and libc6-dev"
        )
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_suffix(".partial")
    argv = [compiler, "-static", "-Os", "-s", "-Wall", "-o", str(partial), str(SOURCE)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendUnavailable(f"cannot build the sandbox launcher: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-2:]
        raise BackendUnavailable(
            f"cannot build the sandbox launcher ({' '.join(tail)}); "
            "a static build needs gcc and libc6-dev"
        )
    os.chmod(partial, _MODE)
    os.replace(partial, target)
    return target
