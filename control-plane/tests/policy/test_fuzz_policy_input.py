"""Property-based fuzzing of the policy input: whatever JSON a caller sends (and whatever
Python values slip in), building and encoding the policy input never raises; it is
either refused as a clear error or encoded as plain, round-trippable JSON."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nexflow_control.auth import Principal
from nexflow_control.calls._requests import policy_input, prepare
from nexflow_control.errors import NexflowError
from nexflow_control.policy import encode_input
from nexflow_control.policy._input import MAX_SAFE_INTEGER
from nexflow_control.skills import Skill, ValidationPool

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["\ud800", "\x00", "/workspace/../../etc", "http://user:pw@h/", "http://[::1", ""]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(hostile_text, inner, max_size=4),
    ),
    max_leaves=20,
)


def _check_encoded(value: Any) -> None:
    text = encode_input(value)
    if text is None:
        return
    back = json.loads(text)
    stack = [back]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            assert math.isfinite(item) and abs(item) <= MAX_SAFE_INTEGER


@FUZZ
@given(value=st.one_of(values, st.dictionaries(hostile_text, values, max_size=6)))
def test_encode_input_never_raises(value: Any) -> None:
    """Any value is either refused (None) or encoded as finite, in-range, valid JSON."""
    _check_encoded(value)


SKILL = Skill(
    name="fuzz",
    description="d",
    dir=Path("/nonexistent/fuzz"),
    skill_md=Path("/nonexistent/fuzz/SKILL.md"),
    digest="sha256:" + "0" * 64,
    input_schema_json=json.dumps(
        {
            "type": "object",
            "properties": {
                "path": {"type": "string", "x-nexflow-path": "read"},
                "out": {"type": "string", "x-nexflow-path": "write"},
                "url": {"type": "string", "x-nexflow-network": "url"},
                "s": {"type": "string", "pattern": "^(a+)+$"},
            },
        }
    ),
)


@FUZZ
@given(
    raw=st.one_of(
        values,
        st.fixed_dictionaries(
            {},
            optional={"path": hostile_text, "out": hostile_text, "url": hostile_text, "s": values},
        ),
    ),
    principal=st.builds(Principal, id=hostile_text, roles=st.tuples(hostile_text)),
)
def test_policy_input_builder_never_crashes(
    raw: Any, principal: Principal, tmp_path_factory: Any
) -> None:
    """From a caller's raw input to the encoded policy input: a clear error or plain JSON."""
    workspace = Path("/tmp/nexflow-fuzz-workspace")
    pool = ValidationPool()  # its worker processes start only if an input needs one
    try:
        _, paths, hosts = asyncio.run(
            prepare(SKILL, raw, workspace, max_input_bytes=4096, pool=pool)
        )
    except NexflowError as exc:
        assert exc.status == 422 and exc.message
        return
    finally:
        pool.close()
    facts = {"rate": {"principal_skill_1m": 0}, "skill_runs": 0}
    built = policy_input(workspace, "call-1", principal, SKILL, "0" * 64, paths, hosts, facts)
    _check_encoded(built)
