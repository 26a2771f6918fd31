"""Malformed input is denied with a reason, never a crash."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from nexflow_control.policy import EmbeddedEngine

Inputs = Callable[..., dict[str, Any]]


async def test_missing_principal_is_malformed(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """An input without a principal is denied malformed_input."""
    item = inputs()
    del item["principal"]
    d = await engine.decide(item)
    assert not d.allow and set(d.codes) == {"malformed_input"}


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("principal", "roles", "admin"),
        ("principal", "id", 7),
        ("skill", "permissions", [None]),
        ("skill", "limits", {"pids": "many"}),
        ("skill", "filesystem", [{"path": "relative", "mode": "ro"}]),
        ("call", "paths", "not-a-list"),
        ("context", "workspace", ["/ws"]),
        ("context", "approved", "yes"),
    ],
)
async def test_wrong_types_are_malformed(
    engine: EmbeddedEngine, inputs: Inputs, section: str, field: str, value: Any
) -> None:
    """A field of the wrong type is denied malformed_input."""
    item = inputs(["admin"])
    item[section][field] = value
    d = await engine.decide(item)
    assert not d.allow and set(d.codes) == {"malformed_input"}


@pytest.mark.parametrize("name", ["fïle-read", "файл", "file read", "a" * 65, "", "-x"])
async def test_bad_skill_names_are_malformed(
    engine: EmbeddedEngine, inputs: Inputs, name: str
) -> None:
    """Unicode, spaces, over-long or empty skill names are denied even for admins."""
    d = await engine.decide(inputs(["admin"], name=name))
    assert d.codes == ("malformed_input",)


async def test_unicode_principal_with_unknown_role(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A unicode principal id is fine; its unknown role is what denies it."""
    item = inputs(["管理者"])
    item["principal"]["id"] = "ユーザー"
    d = await engine.decide(item)
    assert d.codes == ("no_matching_role",)


@pytest.mark.parametrize("value", [[], "text", None, {"x": math.nan}, {"x": {1, 2}}])
async def test_non_json_object_input_is_denied(engine: EmbeddedEngine, value: Any) -> None:
    """A non-object or non-JSON input is denied malformed_input before the policy runs."""
    d = await engine.decide(value)
    assert not d.allow and d.codes[0] == "malformed_input"
