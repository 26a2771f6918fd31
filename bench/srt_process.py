"""Running Anthropic's sandbox runtime (`srt`) for bench/srt.py: its CLI once per call, or
its library kept running with the argv it built for the call (see srt_wrap.mjs).

Anything that stops srt from running here is an `Unmeasured` with the reason to print.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.enforced import readme_example_config
from tests.harness import REPO

__all__ = [
    "SRT",
    "SrtCli",
    "Unmeasured",
    "cpu_account",
    "held_library",
    "run_child",
    "srt_cli",
    "timed",
]

SRT = REPO / ".venv" / "bin" / "srt"  # linked by scripts/install-srt.sh
_WRAP = Path(__file__).with_name("srt_wrap.mjs")
_TIMEOUT_S = 120


class Unmeasured(Exception):
    """Why srt is not measured here (printed as is)."""


def _remove_leftovers(pid: int) -> None:
    # srt 0.0.78 leaves its proxy's unix socket in the host's /tmp, named after its pid.
    for leftover in Path("/tmp").glob(f"srt-mux-{pid}-*.sock"):  # noqa: S108
        leftover.unlink(missing_ok=True)


def run_child(argv: list[str], cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run `argv` in `cwd` to its end, output captured; what srt left in /tmp is removed."""
    with subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        finally:
            _remove_leftovers(proc.pid)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def timed(argv: list[str], cwd: Path, stdin: bytes, expect: bytes) -> float:
    """Wall milliseconds of one run of `argv`; Unmeasured unless it exits 0 printing
    `expect`."""
    t = time.perf_counter()
    try:
        done = run_child(argv, cwd, stdin)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unmeasured(f"{argv[0]}: {exc}") from exc
    ms = (time.perf_counter() - t) * 1000
    if done.returncode != 0 or done.stdout != expect:
        tail = " ".join(done.stderr.decode(errors="replace").split())[-300:]
        raise Unmeasured(f"{argv[0]} exited {done.returncode}: {tail or done.stdout[:100]!r}")
    return ms


@dataclass(frozen=True, slots=True)
class SrtCli:
    """The installed srt, with its README's example config written to `settings`."""

    package: Path
    version: str
    config: dict[str, Any]
    settings: Path

    def argv(self, *command: str) -> list[str]:
        """The CLI as a user runs it: `srt --settings FILE -- COMMAND...`."""
        return [str(SRT), "--settings", str(self.settings), "--", *command]


def srt_cli(settings: Path) -> SrtCli:
    """The installed srt and its example config (written to `settings`); Unmeasured when
    srt or what it needs on Linux is missing."""
    missing = [t for t in ("node", "bwrap", "socat", "rg") if shutil.which(t) is None]
    if missing:
        raise Unmeasured(f"missing on PATH: {', '.join(missing)} (make setup-test)")
    if not SRT.exists():
        raise Unmeasured(f"{SRT} is missing (./scripts/install-srt.sh)")
    package = SRT.resolve().parents[1]  # .../@anthropic-ai/sandbox-runtime/dist/cli.js
    try:
        version = str(json.loads((package / "package.json").read_text())["version"])
        config = readme_example_config((package / "README.md").read_text())
    except (OSError, ValueError, KeyError) as exc:
        raise Unmeasured(f"srt at {package}: its version or example config: {exc}") from exc
    settings.write_text(json.dumps(config, indent=2))
    return SrtCli(package, version, config, settings)


@contextlib.contextmanager
def held_library(cli: SrtCli, cwd: Path, command: str) -> Iterator[list[str]]:
    """srt's library initialised once and kept running (its proxy up), yielding the argv
    it built for `command` in `cwd`: run it as often as wanted until the block ends.
    The argv holds the proxy's per-run credential: never print it."""
    argv = ["node", str(_WRAP), str(cli.package), str(cli.settings), command, "hold"]
    with subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], _TIMEOUT_S)
            line = proc.stdout.readline() if ready else b""
            if not line:
                proc.kill()
                raise Unmeasured(
                    f"srt_wrap.mjs gave no argv (exit {proc.wait()}): {proc.stderr.read()[-300:]!r}"
                )
            yield json.loads(line)
        finally:
            proc.stdin.close()  # the library cleans up and exits
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            _remove_leftovers(proc.pid)


def _own_cgroup_v2() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    raise OSError("no cgroup v2 entry in /proc/self/cgroup")


@contextlib.contextmanager
def cpu_account(name: str) -> Iterator[tuple[list[str], Callable[[], float]]]:
    """A cgroup that only counts CPU, for child processes: yields an argv prefix that runs
    a command inside it, and a function reading its CPU milliseconds so far. Every process
    the command starts is counted, those a pid namespace reaps when it ends included
    (getrusage misses them). Under cgroup v1 only the cpuacct hierarchy is used; under v2
    the cgroup sits below this process's own, so no limit of its changes."""
    v1 = Path("/sys/fs/cgroup/cpuacct")
    if (v1 / "cpuacct.usage").exists():
        group = v1 / "nexflow-bench" / f"{name}-{os.getpid()}"

        def used() -> float:
            return int((group / "cpuacct.usage").read_text()) / 1e6

    else:
        group = _own_cgroup_v2() / f"nexflow-bench-{name}-{os.getpid()}"

        def used() -> float:
            stat = (group / "cpu.stat").read_text().split()
            return int(stat[stat.index("usage_usec") + 1]) / 1000

    group.mkdir(parents=True)
    try:
        # The shell moves itself in (a 0 written to cgroup.procs is the writer), then execs.
        yield ["/bin/sh", "-c", 'echo 0 > "$0" && exec "$@"', str(group / "cgroup.procs")], used
    finally:
        for _ in range(100):
            try:
                group.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # the last exits are still being accounted
                time.sleep(0.01)
        if group.parent.name == "nexflow-bench":
            with contextlib.suppress(OSError):  # another run may still use it
                group.parent.rmdir()
