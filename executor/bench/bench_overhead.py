"""Per-call overhead of the nsjail backend against a bare `python3 -I -S script.py`.

Run: `.venv/bin/python executor/bench/bench_overhead.py [N]` (as root). Reports the
medians of both, measured alternately in the same run, their difference and ratio.
Blocking calls are deliberate: the loop runs nothing else while measuring.
"""

# ruff: noqa: ASYNC221, ASYNC240

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nexflow_executor.sandbox.base import RunLimits, RunSpec, Runtime, Stream
from nexflow_executor.sandbox.nsjail import NsjailSandbox
from nexflow_executor.settings import Settings


async def main(rounds: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="nx-bench-", dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "echo.py").write_text("import sys\nsys.stdout.write(sys.stdin.read())\n")
        (base / "echo.py").chmod(0o644)
        settings = Settings(socket=base / "s.sock", state_dir=base / "state")
        limits = RunLimits(30_000, 30_000, 256 << 20, 64, 1 << 20, 64 << 20, 1000)
        spec = RunSpec(
            "bench", Runtime.PYTHON, base, "echo.py", (), b"hi", {"PATH": "/usr/bin"}, (), limits
        )
        sandbox = NsjailSandbox(settings)

        async def started() -> None:
            return None

        async def output(stream: Stream, data: bytes) -> None:
            return None

        jailed: list[float] = []
        bare: list[float] = []
        for _ in range(rounds):
            t = time.perf_counter()
            await sandbox.run(spec, started, output, asyncio.Event())
            jailed.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run(
                ["/usr/bin/python3", "-I", "-S", str(base / "echo.py")],
                input=b"hi",
                capture_output=True,
                check=True,
            )
            bare.append(time.perf_counter() - t)
        j, b = statistics.median(jailed) * 1000, statistics.median(bare) * 1000
        print(
            f"nsjail median {j:.1f} ms, bare median {b:.1f} ms, "
            f"overhead {j - b:.1f} ms, ratio {j / b:.2f}"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
