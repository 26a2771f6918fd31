"""A succeeded call's output held against the skill's output schema (`output_invalid`).

The output is the script's stdout read as JSON by the API's strict decoder; when the skill
declares an output schema, output that is not such JSON (plain text, nothing, a truncated
document) is invalid too. The check is the input's: the same safe validator (RE2
patterns, a step budget), inline within a small CPU slice, else in a validation worker
process (`inputs.check_tiered`), so a catastrophic schema cannot stall the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


async def check_output(
    skill: Skill, output: tuple[bool, Any], pool: ValidationPool
) -> OutputProblem | None:
    """None when the skill has no output schema or the output fits it. `output` is
    `read_output(stdout)`: the stdout is parsed once per call, for this check and the
    result alike."""
    schema = skill.output_schema
    if schema is None:
        return None
    parsed, value = output
    if not parsed:
        return OutputProblem("output: not JSON, and the skill declares an output schema", "output")
    key = f"{skill.name}@{skill.digest}#output"
    try:
        # Encoded for a worker only if the inline tier hands it over (rare).
        problem = await check_tiered(key, schema, value, None, pool=pool, root="output")
    except Unavailable as exc:  # fail closed: output nobody could check is not valid
        why = f"output: could not be checked ({exc.message})"
        return OutputProblem(why[:MAX_MESSAGE], "output")
    if problem is None:
        return None
    message = problem.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return OutputProblem(message, problem.field[:MAX_MESSAGE])
