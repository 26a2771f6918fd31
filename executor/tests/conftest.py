"""Fixtures: a real executor server on a real unix socket, driven by a real grpc.aio channel.

Operator note, mirrored here: the sandbox runs as an unprivileged outside uid
(65534), so a skill folder must be readable by it (o+rX) and a read-write grant
must be writable by it (chown 65534). pytest's own tmp dirs are 0700 root: the
fixtures set suitable modes on what they create (see executor_testkit).
"""

from __future__ import annotations

from executor.tests.executor_testkit import (
    backend,
    base_dir,
    home,
    settings,
    short_dir,
    skill_dir,
    stub,
)

__all__ = ["backend", "base_dir", "home", "settings", "short_dir", "skill_dir", "stub"]
