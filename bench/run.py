"""`make bench`: every benchmark, each beside a baseline measured in the same run.

Prints ratios and absolute figures; never a pass/fail gate. Run: `make bench`
(or `.venv/bin/python bench/run.py [--quick] [--only components viewer ...]`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

# The repository root, not bench/ itself: bench/docker.py would shadow the Docker SDK.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]
# litellm (the gateway bench) reads its bundled price list instead of fetching one at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from nexflow_common.logs import configure_logging  # noqa: E402 - after the path fix

from bench import (  # noqa: E402
    audit,
    chat_gateway,
    components,
    docker,
    edge,
    egress,
    executors,
    install,
    policy,
    prestart,
    registry,
    registry_browse,
    schedules_secrets,
    shared_counts,
    spine,
    srt,
    tracing,
    viewer,
)

ASYNC = {
    "components": components.run,
    "audit": audit.run,
    "viewer": viewer.run,
    "policy": policy.run,
    "spine": spine.run,
    "prestart": prestart.run,
    "srt": srt.run,
    "egress": egress.run,
    "edge": edge.run,
    "shared_counts": shared_counts.run,
    "executors": executors.run,
    "tracing": tracing.run,
    "registry": registry.run,
    "schedules_secrets": schedules_secrets.run,
    "install": install.run,
    "registry_browse": registry_browse.run,
    "gateway": chat_gateway.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument(
        "--only", nargs="+", choices=[*ASYNC, "docker"], help="run only these benchmarks"
    )
    args = parser.parse_args()
    configure_logging("WARNING")  # the figures, not the in-process stores' info lines
    chosen = args.only or [*ASYNC, "docker"]
    scale = 0.2 if args.quick else 1.0
    with tempfile.TemporaryDirectory(prefix="nexflow-bench-") as tmp:
        for name, bench in ASYNC.items():
            if name in chosen:
                asyncio.run(bench(Path(tmp), scale))
        if "docker" in chosen:
            docker.run(Path(tmp), scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
