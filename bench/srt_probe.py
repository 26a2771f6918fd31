"""A probe script run twice in each sandbox of bench/srt.py: can it write beside itself,
read a host file outside its directory, see what the previous call left in /tmp, and
allocate more memory than the jail's limit?"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from nexflow_executor.sandbox.base import RunSpec, Stream
from nexflow_executor.sandbox.nsjail import NsjailSandbox

from bench.enforced import probe_facts
from bench.srt_process import run_child

__all__ = ["SCRIPT", "probe_jail", "probe_srt"]

MIB = 384  # above the jail's 256 MiB memory limit (bench/prestart.py LIMITS)
# argv: a token naming its /tmp file, a host file's path, and (second run) MiB to allocate.
SCRIPT = """\
import json, os, sys
mark = "/tmp/nexflow-bench-probe-" + sys.argv[1]
facts = {"tmp_kept": os.path.exists(mark)}
for key, path, mode in (("tmp_write", mark, "w"),
                        ("skill_write", os.path.join(os.path.dirname(__file__), "probe.out"), "w"),
                        ("host_read", sys.argv[2], "r")):
    try:
        with open(path, mode):
            facts[key] = True
    except OSError:
        facts[key] = False
print(json.dumps(facts), flush=True)
if len(sys.argv) > 3:
    block = b"x" * (int(sys.argv[3]) << 20)
    print(json.dumps({"allocated": len(block) >> 20}), flush=True)
"""


class _Collect:
    """The output callback of a sandbox run, keeping stdout."""

    def __init__(self) -> None:
        self.stdout = b""

    async def __call__(self, stream: Stream, data: bytes) -> None:
        if stream is Stream.STDOUT:
            self.stdout += data


async def _started(image_id: str = "", warm: bool = False) -> None:
    return None


def _observed(first: dict[str, Any], second: dict[str, Any], ended: str) -> str:
    yes = {True: "yes", False: "no"}
    return (
        f"wrote beside the script: {yes[bool(first.get('skill_write'))]}; read a host file "
        f"outside it: {yes[bool(first.get('host_read'))]}; saw the previous call's /tmp "
        f"file: {yes[bool(second.get('tmp_kept'))]}; allocated {MIB} MiB: "
        f"{'yes' if second.get('allocated') else 'no, ' + ended}"
    )


async def probe_jail(jail: NsjailSandbox, spec: RunSpec, args: tuple[str, str]) -> str:
    """What the probe did in two calls of `spec`'s skill (its probe.py) in Nexflow's jail."""
    facts = []
    ended = ""
    for extra in ((), (str(MIB),)):
        out = _Collect()
        probe = RunSpec(
            spec.call_id, spec.runtime, spec.skill_dir, "probe.py", (*args, *extra),
            b"", spec.env, spec.mounts, spec.limits,
        )  # fmt: skip
        result = await jail.run(probe, _started, out, asyncio.Event())
        ended = f"exit {result.exit_code}, {result.kill_reason.name}"
        facts.append(probe_facts(out.stdout.decode(errors="replace")))
    return _observed(facts[0], facts[1], ended)


def probe_srt(argv: list[str], skill: Path, args: tuple[str, str]) -> str:
    """What the probe did in two runs of `argv + probe.py` (srt's CLI) in `skill`."""
    facts = []
    ended = ""
    for extra in ((), (str(MIB),)):
        done = run_child([*argv, "probe.py", *args, *extra], skill)
        ended = f"exit {done.returncode}"
        facts.append(probe_facts(done.stdout.decode(errors="replace")))
    Path(f"/tmp/nexflow-bench-probe-{args[0]}").unlink(missing_ok=True)  # noqa: S108 - the host's /tmp
    (skill / "probe.out").unlink(missing_ok=True)
    return _observed(facts[0], facts[1], ended)
