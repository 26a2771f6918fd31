"""The skill images the nsjail backend can stand in for.

nsjail runs no container image: its sandbox's system tree is the host's /usr (read-only,
see the executor's sandbox/nsjail_config.py). An image that adds only Debian packages to
a runtime (git for skills/git-basic) is therefore also available under nsjail when the
host has the same packages installed (scripts/setup.sh installs them). A skill naming one
of these images does not pin the Docker backend: the control plane asks for no backend
and the executor runs it on its default one. Every other image means Docker.
"""

from __future__ import annotations

__all__ = ["HOST_TOOL_IMAGES"]

HOST_TOOL_IMAGES: frozenset[str] = frozenset({"nexflow/git:bookworm"})
