"""Stage granted paths where the sandbox's unprivileged uid can reach them.

nsjail performs its bind mounts inside the new user namespace, as the sandbox's
outside uid (65534 by default). That uid cannot traverse a private parent such as
`/root/.nexflow` (0700), so a grant under it could not be mounted at all. The
executor, which is privileged in the initial namespaces, first bind-mounts each
granted path onto a fresh, empty spot under a world-searchable (0711, unlistable)
staging root, and nsjail mounts from there. Only the granted directory itself is
exposed this way — never its parents — and each staging mount is private (no
propagation) and lazily unmounted when the call ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from nexflow_executor.errors import SandboxError
from nexflow_executor.sandbox.base import RunSpec

_MS_BIND = 4096
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _mount(src: str | None, target: str, flags: int) -> None:
    if _libc.mount(src.encode() if src else None, target.encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"cannot stage {src or target}: {os.strerror(err)}")


def _umount(target: str) -> None:
    _libc.umount2(target.encode(), _MNT_DETACH)


class Staging:
    """Context manager: `with Staging(root, spec) as staged:` gives a spec with staged paths."""

    def __init__(self, root: Path, spec: RunSpec) -> None:
        self._dir = root / f"{spec.call_id}-{secrets.token_hex(4)}"
        self._root = root
        self._spec = spec
        self._targets: list[str] = []

    def __enter__(self) -> RunSpec:
        self._root.mkdir(parents=True, exist_ok=True)
        # Searchable, not listable, so the sandbox uid can reach its own staged grant
        # by exact name but cannot enumerate other calls'.
        os.chmod(self._root, 0o711)  # noqa: S103
        self._dir.mkdir(mode=0o711)
        try:
            skill_dir = self._stage(self._spec.skill_dir, "skill")
            mounts = tuple(
                replace(m, host_path=self._stage(m.host_path, f"m{i}"))
                for i, m in enumerate(self._spec.mounts)
            )
        except BaseException:
            self._cleanup()
            raise
        return replace(self._spec, skill_dir=skill_dir, mounts=mounts)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cleanup()

    def _stage(self, source: Path, name: str) -> Path:
        target = self._dir / name
        if source.is_dir():
            target.mkdir(mode=0o755)
        else:
            target.touch(mode=0o644)
        self._targets.append(str(target))
        _mount(str(source), str(target), _MS_BIND)
        _mount(None, str(target), _MS_PRIVATE)
        return target

    def _cleanup(self) -> None:
        for target in reversed(self._targets):
            _umount(target)
            with contextlib.suppress(OSError):
                os.rmdir(target) if os.path.isdir(target) else os.unlink(target)
        self._targets.clear()
        with contextlib.suppress(OSError):
            self._dir.rmdir()
