"""`make bench`: every benchmark, each beside a baseline measured in the same run.

Prints ratios and absolute figures; never a pass/fail gate. Run: `make bench`
(or `.venv/bin/python bench/run.py [--quick]`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import components, docker, egress, policy, spine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    with tempfile.TemporaryDirectory(prefix="nexflow-bench-") as tmp:
        asyncio.run(components.run(Path(tmp), scale))
        asyncio.run(policy.run(Path(tmp), scale))
        asyncio.run(spine.run(Path(tmp), scale))
        asyncio.run(egress.run(Path(tmp), scale))
        docker.run(Path(tmp), scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
