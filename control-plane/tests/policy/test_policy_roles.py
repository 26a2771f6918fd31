"""Roles, permission classes and approvals, through the embedded engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nexflow_control.policy import EmbeddedEngine

Inputs = Callable[..., dict[str, Any]]


async def test_user_runs_a_skill_without_dangerous_permissions(
    engine: EmbeddedEngine, inputs: Inputs
) -> None:
    """A user may run a filesystem-only skill and gets default limits."""
    d = await engine.decide(inputs(["user"], ["filesystem"]))
    assert d.allow and not d.require_approval and d.reasons == ()
    assert d.grants.limits is not None and d.grants.limits.wall_time_ms == 30000
    assert d.revision == engine.revision


async def test_viewer_runs_nothing(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A viewer is denied every skill with skill_not_allowed_for_role."""
    d = await engine.decide(inputs(["viewer"]))
    assert not d.allow and d.codes == ("skill_not_allowed_for_role",)
    assert d.grants.limits is None and d.grants.filesystem == ()


async def test_unknown_role_is_denied(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A principal whose roles the configuration does not know is denied."""
    d = await engine.decide(inputs(["superuser"]))
    assert not d.allow and d.codes == ("no_matching_role",)


async def test_user_may_not_use_shell(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A user asking for shell is denied, not sent to approval."""
    d = await engine.decide(inputs(["user"], ["shell"]))
    assert not d.allow and not d.require_approval
    assert d.codes == ("permission_not_allowed",)


async def test_operator_may_not_use_secrets(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """An operator asking for secrets is denied."""
    d = await engine.decide(inputs(["operator"], ["secrets"]))
    assert d.codes == ("permission_not_allowed",)


async def test_admin_shell_requires_approval(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """An admin's shell skill is not allowed yet: it requires approval, with the reason."""
    d = await engine.decide(inputs(["admin"], ["shell", "secrets"]))
    assert not d.allow and d.require_approval
    assert set(d.codes) == {"approval_required_shell", "approval_required_secrets"}
    assert d.grants.limits is not None


async def test_admin_approved_call_is_allowed(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """Once context.approved is true the admin's shell call is allowed."""
    item = inputs(["admin"], ["shell"])
    item["context"]["approved"] = True
    d = await engine.decide(item)
    assert d.allow and not d.require_approval


async def test_network_needs_allowlist(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """With the default empty allowlist an operator's network request is denied."""
    d = await engine.decide(inputs(["operator"], ["network"], network=["api.github.com:443"]))
    assert d.codes == ("network_not_allowed",)


async def test_limit_above_ceiling_is_denied(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A skill asking for more memory than the ceiling is denied."""
    d = await engine.decide(inputs(limits={"memory_bytes": 2**40}))
    assert d.codes == ("limit_above_ceiling",)


async def test_limit_ask_is_granted(engine: EmbeddedEngine, inputs: Inputs) -> None:
    """A skill's limit ask under the ceiling replaces the default."""
    d = await engine.decide(inputs(limits={"wall_time_ms": 1234, "output_bytes": 65536}))
    assert d.grants.limits is not None
    assert (d.grants.limits.wall_time_ms, d.grants.limits.output_bytes) == (1234, 65536)
