# Resource limits
#
# Every limit in data.nexflow.config.limits.defaults is granted: the skill's ask when it
# gives one, else the default. An ask above the ceiling
# (data.nexflow.config.limits.ceilings) is denied. A per-skill override's
# "limits": {"defaults": {...}, "ceilings": {...}} replaces single values for that skill.
package nexflow.authz

_skill_limits_cfg := object.get(_skill_cfg, "limits", {})

_limit_default(name) := object.get(object.get(_skill_limits_cfg, "defaults", {}), name, _cfg.limits.defaults[name])

_limit_ceiling(name) := object.get(object.get(_skill_limits_cfg, "ceilings", {}), name, _cfg.limits.ceilings[name])

_granted_limits := {name: value |
	some name, _ in _cfg.limits.defaults
	value := object.get(object.get(input.skill, "limits", {}), name, _limit_default(name))
}

# METADATA
# description: The skill asks for more of a resource than the ceiling allows.
# custom:
#   code: limit_above_ceiling
_violations contains _reason("limit_above_ceiling", message) if {
	some name, value in object.get(input.skill, "limits", {})
	ceiling := _limit_ceiling(name)
	value > ceiling
	message := sprintf("the skill asks for %s=%v, above the ceiling %v", [name, value, ceiling])
}
