"""The verdicts of `nexflow skill test`: how one finished run is judged, and the report.

`judge` holds a run's outcome against what its example expects (see
`skills.read_examples`): an expected error by its code; otherwise success, the output
schema, then equality unless the expected value is elided. `report` prints one line per
example and a count, or one JSON document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TextIO

from ..calls import read_output
from ..executors import KillReason, Outcome
from ..skills import Example, Skill, check_input

_MAX_SHOWN = 200  # characters of an output quoted in a FAIL reason


@dataclass
class Verdict:
    """One example's result: PASS, FAIL or SKIP, why, and what ran (JSON: `to_dict`)."""

    skill: str
    file: str
    line: int
    status: str  # PASS | FAIL | SKIP
    reason: str
    input: Any = None
    output: Any = None
    duration_ms: int | None = None
    backend: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, `1` is `1.0`, objects ignore key order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def judge(skill: Skill, example: Example, outcome: Outcome, hint: str) -> tuple[bool, str, Any]:
    """(passed, reason, the output as JSON or text) for one finished run."""
    stdout = outcome.stdout.decode("utf-8", "replace")
    parsed, value = read_output(stdout)
    output = value if parsed else (stdout.strip() or None)
    if outcome.kill_reason is not KillReason.NONE:
        return False, f"killed: {outcome.kill_reason.value} {outcome.detail}".strip(), output
    failed = outcome.exit_code != 0
    stderr = outcome.stderr.decode("utf-8", "replace").strip()
    if example.expect == "error":
        if not failed:
            return False, f"expected a failure, it succeeded with {_short(output)}", output
        got = value.get("error") if parsed and isinstance(value, dict) else None
        if example.error_code is not None and got != example.error_code:
            return False, f"expected error {example.error_code!r}, got {_short(output)}", output
        return True, f"failed as expected ({got or f'exit {outcome.exit_code}'})", output
    if failed:
        detail = _short(output if output is not None else stderr or "no output")
        return False, f"exit status {outcome.exit_code}: {detail}{hint}", output
    schema = skill.output_schema
    if schema is not None:
        if not parsed:
            return False, "the output is not JSON, and the skill declares an output schema", output
        problem = check_input(f"{skill.name}@{skill.digest}#output", schema, value, root="output")
        if problem is not None:
            return False, f"the output breaks the output schema: {problem.message}", output
    if example.expect == "schema":
        fits = "fits the output schema" if schema is not None else "succeeded (no output schema)"
        return True, f"{fits}; the expected value is elided, not compared", output
    if not parsed or not same_json(value, example.expected):
        return False, f"expected {_short(example.expected)}, got {_short(output)}", output
    return True, "output equals the expected value", output


def report(verdicts: list[Verdict], as_json: bool, out: TextIO) -> int:
    """Print the verdicts; the exit status (0 none failed, 1 some failed)."""
    counts = {s: sum(1 for v in verdicts if v.status == s) for s in ("PASS", "FAIL", "SKIP")}
    if as_json:
        document = {
            "passed": counts["PASS"],
            "failed": counts["FAIL"],
            "skipped": counts["SKIP"],
            "examples": [v.to_dict() for v in verdicts],
        }
        out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        for v in verdicts:
            took = f" ({v.duration_ms} ms, {v.backend})" if v.duration_ms is not None else ""
            out.write(f"{v.status} {v.file}:{v.line}: {v.reason}{took}\n")
        out.write(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped\n")
    return 1 if counts["FAIL"] else 0
