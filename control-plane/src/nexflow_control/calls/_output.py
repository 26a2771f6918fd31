"""A succeeded call's output held against the skill's output schema (`output_invalid`).

The output is the script's stdout read as JSON by the API's strict decoder; when the skill
declares an output schema, output that is not such JSON (plain text, nothing, a truncated
document) is invalid too. The check is the input's: the same safe validator (RE2
patterns, a step budget), inline within a small CPU slice, else in a validation worker
process (`inputs.check_tiered`), so a catastrophic schema cannot stall the server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..api import parse_lenient
from ..errors import Unavailable
from ..skills import Skill, ValidationPool
from .inputs import check_tiered

MAX_MESSAGE = 300
"""Characters of the validation message kept in the result and the audit event."""
OUTPUT_INVALID = "output_invalid"


@dataclass(frozen=True, slots=True)
class OutputProblem:
    """Why a succeeded call's output does not fit its schema: the first problem found."""

    message: str
    field: str

    def to_dict(self) -> dict[str, str]:
        return {"error": OUTPUT_INVALID, "message": self.message, "field": self.field}


async def check_output(skill: Skill, stdout: str, pool: ValidationPool) -> OutputProblem | None:
    """None when the skill has no output schema or `stdout` fits it."""
    schema = skill.output_schema
    if schema is None:
        return None
    parsed, value = parse_lenient(stdout.strip())
    if not parsed:
        return OutputProblem("output: not JSON, and the skill declares an output schema", "output")
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    key = f"{skill.name}@{skill.digest}#output"
    try:
        problem = await check_tiered(key, schema, value, encoded, pool=pool, root="output")
    except Unavailable as exc:  # fail closed: output nobody could check is not valid
        why = f"output: could not be checked ({exc.message})"
        return OutputProblem(why[:MAX_MESSAGE], "output")
    if problem is None:
        return None
    message = problem.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return OutputProblem(message, problem.field[:MAX_MESSAGE])
