"""Input and output JSON Schemas: from the frontmatter or from the body.

Both are checked for what could hurt the server (`schema_problems`: size, patterns
RE2 cannot run, references that leave the document or never end), then against the
Draft 2020-12 meta-schema. The input schema must
have ``type: object`` at the top; ``x-nexflow-path`` (``read``/``write``) and
``x-nexflow-network`` (``url``: the call asks for that URL's host and port) may only mark
top-level string properties.
"""

from __future__ import annotations

from typing import Any

from ._context import Checker
from ._diagnostics import Code
from ._json5 import loads_json5
from ._markdown import BodySchemas, FencedBlock
from ._schema_safety import schema_problems
from ._validator import check_schema as meta_problem

PATH_MARK = "x-nexflow-path"
NETWORK_MARK = "x-nexflow-network"
_MARKS = {PATH_MARK: ("read", "write"), NETWORK_MARK: ("url",)}


def field_path(fld: str, pointer: str) -> str:
    """``input_schema`` + ``/allOf/0/pattern`` -> ``input_schema.allOf[0].pattern``."""
    out = fld
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    for index, token in enumerate(tokens):
        after_list = index > 0 and tokens[index - 1] in ("allOf", "anyOf", "oneOf", "prefixItems")
        out += f"[{token}]" if after_list and token.isdigit() else f".{token}"
    return out


def _safety(ck: Checker, fld: str, schema: dict[str, Any], line: int | None) -> bool:
    problems = schema_problems(schema)
    for pointer, code, message in problems:
        ck.add(field_path(fld, pointer), code, message, line=line)
    return not problems


def _path_marks(ck: Checker, fld: str, schema: dict[str, Any], line: int | None) -> bool:
    props = schema.get("properties")
    if not isinstance(props, dict):
        return True
    ok = True
    for key, prop in props.items():
        for mark, allowed in _MARKS.items():
            if not isinstance(prop, dict) or mark not in prop:
                continue
            where = f"{fld}.properties.{key}.{mark}"
            if prop[mark] not in allowed:
                choices = " or ".join(repr(a) for a in allowed)
                ck.add(where, Code.INVALID_SCHEMA, f"{mark} must be {choices}", line=line)
                ok = False
            elif prop.get("type") != "string":
                ck.add(where, Code.INVALID_SCHEMA, f"{mark} needs 'type: string'", line=line)
                ok = False
    return ok


def check_schema(
    ck: Checker, fld: str, schema: Any, *, is_input: bool, line: int | None = None
) -> dict[str, Any] | None:
    """The schema if valid; otherwise None with an ``invalid_schema`` diagnostic."""
    if not isinstance(schema, dict):
        ck.add(fld, Code.INVALID_SCHEMA, "a schema must be a JSON object", line=line)
        return None
    if not _safety(ck, fld, schema, line):
        return None
    problem = meta_problem(schema)
    if problem is not None:
        ck.add(fld, Code.INVALID_SCHEMA, problem, line=line)
        return None
    if is_input:
        if schema.get("type") != "object":
            ck.add(fld, Code.INVALID_SCHEMA, "the input schema needs 'type: object'", line=line)
            return None
        if not _path_marks(ck, fld, schema, line):
            return None
    return schema


def _from_block(ck: Checker, fld: str, block: FencedBlock, is_input: bool) -> Any:
    ok, value = loads_json5(block.text)
    if not ok:
        ck.add(fld, Code.INVALID_SCHEMA, f"schema block is not JSON: {value}", line=block.line)
        return None
    return check_schema(ck, fld, value, is_input=is_input, line=block.line)


def read_schemas(
    ck: Checker, body: BodySchemas
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(input, output); the frontmatter wins over the body, with a warning when both exist."""
    result: list[dict[str, Any] | None] = []
    for fld, block, is_input in (
        ("input_schema", body.input, True),
        ("output_schema", body.output, False),
    ):
        if fld in ck.doc.frontmatter:
            schema = check_schema(ck, fld, ck.doc.frontmatter[fld], is_input=is_input)
            if block is not None:
                ck.warn(fld, Code.SCHEMA_CONFLICT, "also given in the body; the frontmatter wins")
        elif block is not None:
            schema = _from_block(ck, fld, block, is_input)
        else:
            schema = None
        result.append(schema)
    return result[0], result[1]
