"""What the deploy tests share: where the chart and Compose file are, and the tools that
read them (helm built by scripts/install-helm.sh, Debian's docker-compose or the compose
plugin). A missing tool is a failure that says how to get it, never a skip."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "nexflow"
COMPOSE_FILE = REPO / "deploy" / "compose.yaml"
VENV_BIN = Path(sys.executable).parent


def helm() -> str:
    """The pinned helm (`scripts/install-helm.sh`, run by `scripts/setup.sh test`)."""
    path = VENV_BIN / "helm"
    assert path.exists(), "helm is missing: run scripts/install-helm.sh (make setup-test)"
    return str(path)


def compose() -> list[str]:
    """`docker-compose` (Debian's package) or, where it is installed, `docker compose`."""
    if found := shutil.which("docker-compose"):
        return [found]
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    assert plugin.returncode == 0, "neither docker-compose nor the compose plugin: make setup-test"
    return ["docker", "compose"]


def run(cmd: Sequence[str], timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run `cmd`, failing the test with its output when it exits non-zero."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}"
    return proc


def load_all(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of `text`."""
    return [d for d in yaml.safe_load_all(text) if d]
