"""`GET /api/v1/stats/skills` (scopes `skills:read` and `audit:read`): each installed
skill's state under the policy on disk (`enabled`, `require_approval`, `trusted` from
`data.nexflow.config.skills`) and its last call, for the web UI's skills page."""

from __future__ import annotations

from pydantic import BaseModel

from ..audit.overview import CallFilter, list_calls
from .deps import AuditRead, ServicesDep, SkillsRead
from .policy_config import policy_config, section
from .route import edge_router
from .routes_calls_list import CallRowOut

router = edge_router("/api/v1", "skills")

MAX_SKILLS = 500
"""Most skills one answer covers (each costs one bounded look at its last call)."""


class SkillState(BaseModel):
    name: str
    enabled: bool
    """False when the policy data says `"enabled": false` (calls are denied `skill_disabled`)."""
    require_approval: bool
    trusted: bool
    last_call: CallRowOut | None


class SkillStateList(BaseModel):
    skills: list[SkillState]


@router.get("/stats/skills", response_model=SkillStateList)
async def skill_states(svc: ServicesDep, _: SkillsRead, __: AuditRead) -> SkillStateList:
    """Installed skills by name (at most 500): policy state and the newest call."""
    config = await policy_config(svc)
    out = []
    for skill in sorted(svc.catalog.list(), key=lambda s: s.name)[:MAX_SKILLS]:
        cfg = section(config, "skills", skill.name)
        cfg = cfg if isinstance(cfg, dict) else {}
        last = (await list_calls(svc.audit, CallFilter(skill=skill.name), limit=1)).calls
        out.append(
            SkillState(
                name=skill.name,
                enabled=cfg.get("enabled") is not False,
                require_approval=cfg.get("require_approval") is True,
                trusted=cfg.get("trusted") is True,
                last_call=CallRowOut.model_validate(last[0], from_attributes=True)
                if last
                else None,
            )
        )
    return SkillStateList(skills=out)
