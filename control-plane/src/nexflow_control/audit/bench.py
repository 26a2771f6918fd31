"""`bench_append`: appends per second through the real store (for `make bench`, not a test).

Run: `python -m nexflow_control.audit.bench [URL] [N] [CONCURRENCY]`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from .records import AuditEvent
from .store import AuditLog


def _event(worker: int, i: int) -> AuditEvent:
    return AuditEvent(
        action="call.finished",
        call_id=f"c-{worker}-{i}",
        actor=f"user-{worker % 7}",
        skill="file-read",
        decision="allow",
        reason_codes=["ok"],
        policy_revision="rev-1",
        payload={"input": {"path": f"notes/{i}.md"}, "output": "x" * 200, "ms": i % 97},
    )


async def bench_append(url: str, n: int, concurrency: int) -> float:
    """Append `n` events from `concurrency` tasks, each awaiting its commit; events/s."""
    log = await AuditLog.open(url)
    try:

        async def worker(w: int) -> None:
            for i in range(w, n, concurrency):
                await log.append(_event(w, i))

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await log.close()
    return n / elapsed


def main() -> None:
    """Print the rate for a fresh SQLite file (or the URL given)."""
    args = sys.argv[1:]
    n = int(args[1]) if len(args) > 1 else 20_000
    concurrency = int(args[2]) if len(args) > 2 else 64
    with tempfile.TemporaryDirectory() as tmp:
        url = args[0] if args and args[0] else f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        rate = asyncio.run(bench_append(url, n, concurrency))
    print(f"audit append: {rate:,.0f} events/s (n={n}, concurrency={concurrency})")


if __name__ == "__main__":
    main()
