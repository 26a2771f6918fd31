"""The real `clawhub` CLI from npm, installed once into the cache and run as a subprocess
against a registry, with its own HOME/XDG config so nothing leaks between tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

VERSION = "0.23.3"


def _cache() -> Path:
    root = Path(os.environ.get("NEXFLOW_CACHE", Path.home() / ".cache" / "nexflow"))
    return root / "npm" / f"clawhub-{VERSION}"


def clawhub_bin() -> Path:
    """The CLI's entry point: `npm install --prefix <cache> clawhub@VERSION` the first time
    (into a temporary folder renamed into place, so parallel workers never see half of it)."""
    dest = _cache()
    entry = dest / "node_modules" / "clawhub" / "bin" / "clawdhub.js"
    if not entry.exists():
        if shutil.which("npm") is None or shutil.which("node") is None:
            pytest.skip("node and npm are needed to run the real clawhub CLI")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".clawhub-", dir=dest.parent))
        done = subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(tmp),
                f"clawhub@{VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.skip(f"npm install clawhub@{VERSION} failed: {done.stderr[-2000:]}")
        try:
            tmp.rename(dest)
        except OSError:  # another worker won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


@dataclass
class Clawhub:
    """One user of the CLI: a config home and a work folder."""

    registry: str
    home: Path

    def run(
        self, *args: str, token: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "CLAWHUB_DISABLE_TELEMETRY": "1",
            "NO_COLOR": "1",
            "CI": "1",
        }
        if token is not None:
            config = self.home / ".config" / "clawhub" / "config.json"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(json.dumps({"registry": self.registry, "token": token}))
        done = subprocess.run(
            [
                "node",
                str(clawhub_bin()),
                "--registry",
                self.registry,
                "--workdir",
                str(self.home / "work"),
                "--no-input",
                *args,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"clawhub {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done
